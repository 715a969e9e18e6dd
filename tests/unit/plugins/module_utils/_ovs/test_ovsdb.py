"""ResourceOperation: one object or a batch, validated before any OVSDB session is opened."""

import pytest
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import (
    OVSDB,
    Resource,
    ResourceOperation,
    converge,
)


class Thing(Resource):
    database = "OVN_Northbound"
    tables = ("Logical_Switch",)
    result_key = "thing"

    def validate(self):
        if self.params.get("size", 1) < 1:
            raise ValidationError("size", f"must be >= 1 (got {self.params['size']})")
        self.checked = True


def test_session_options_name_the_database_and_tables():
    op = ResourceOperation(Thing)
    assert op.session_options == {"database": "OVN_Northbound", "tables": ("Logical_Switch",)}


def test_one_object_is_validated_once_on_the_instance_that_converges():
    op = ResourceOperation(Thing, items_key="things")
    op.validate({"name": "a", "size": 2, "things": None})
    assert not op.batch and len(op.resources) == 1 and op.resources[0].checked


def test_a_batch_item_names_its_index_in_the_error():
    op = ResourceOperation(Thing, items_key="things")
    params = {k: None for k in OVSDB.connection_spec}
    params["things"] = [{"name": "a", "size": 1}, {"name": "b", "size": 0}]
    with pytest.raises(ValidationError) as info:
        op.validate(params)
    assert str(info.value) == "items[1].size: must be >= 1 (got 0)"


def test_a_batch_refuses_a_name_listed_twice():
    op = ResourceOperation(Thing, items_key="things")
    with pytest.raises(ValidationError, match=r"^items\[0\]\.name: a is listed twice"):
        op.validate({"things": [{"name": "a"}, {"name": "a"}]})


def test_batch_items_get_the_connection_options():
    op = ResourceOperation(Thing, items_key="things")
    op.validate({"ovsdb_remote": "tcp:127.0.0.1:6641", "ovsdb_timeout": 5, "things": [{"name": "a"}]})
    assert op.batch and op.resources[0].params["ovsdb_remote"] == "tcp:127.0.0.1:6641"
    assert op.resources[0].params["ovsdb_timeout"] == 5


class Claims(Resource):
    """Plans like ovn_port: what it picks goes into ``pending``, and a pick already there is refused."""

    database = "OVN_Northbound"
    tables = ("Logical_Switch",)

    def read(self, session):
        return None

    def plan(self, session, current):
        if "10.0.0.2" in self.pending:
            raise ValidationError("ips", f"10.0.0.2 is already used by port {self.pending['10.0.0.2']}")
        self.pending["10.0.0.2"] = self.params["name"]
        return {"ip": "10.0.0.2"}

    def apply(self, session, txn, current, after):
        pass


class RacingSession:
    """The first commit meets another writer (TRY_AGAIN), the second one succeeds."""

    def __init__(self):
        self.commits = 0

    def transact(self, fn, comment):
        self.commits += 1
        return self.commits > 1

    def wait(self, until, what):
        pass


def test_a_retried_transaction_plans_afresh():
    """A TRY_AGAIN retry must not find its own earlier choices taken (drill 4: two nodes creating
    ports on one switch at once got 'already used by port <itself>')."""
    session = RacingSession()
    resource = Claims({"name": "vm2-eth0"})
    changed, before, after = converge(resource, session, check_mode=False)
    assert (changed, before, after, session.commits) == (True, None, {"ip": "10.0.0.2"}, 2)
