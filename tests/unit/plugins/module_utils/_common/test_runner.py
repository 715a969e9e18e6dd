"""The one module runner: order of the steps, check mode, diff, and the one failure boundary."""

import pytest
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
    ValidationError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import (
    Engine,
    Operation,
    run_module,
)


class Exited(Exception):
    def __init__(self, how, result):
        super().__init__(how)
        self.how = how
        self.result = result


class FakeModule:
    def __init__(self, params=None, check_mode=False, diff=True):
        self.params = params or {}
        self.check_mode = check_mode
        self._diff = diff

    def exit_json(self, **result):
        raise Exited("exit", result)

    def fail_json(self, **result):
        raise Exited("fail", result)


class NativeError(Exception):
    pass


class FakeSession:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("open")
        return self

    def __exit__(self, *exc):
        self.log.append("close")


class FakeEngine(Engine):
    name = "fake"
    native_errors = (NativeError,)

    def __init__(self, log, missing=False):
        self.log = log
        self.missing = missing

    def require(self, **options):
        self.log.append(("require", options))
        if self.missing:
            raise MissingLibraryError("binding missing", exception="traceback")

    def open(self, module, **options):
        self.log.append(("connect", options))
        return FakeSession(self.log)

    def report(self, session):
        return {"round_trips": 2}


def _run(module, engine, operation):
    with pytest.raises(Exited) as info:
        run_module(module, engine, operation)
    return info.value.how, info.value.result


def test_steps_in_order_and_result_with_report_and_diff():
    log = []

    def validate(params):
        log.append("validate")

    def converge(session, params, check_mode):
        log.append(("converge", check_mode))
        return {"changed": True, "thing": {"a": 1}, "diff": {"before": {}, "after": {"a": 1}}}

    how, result = _run(FakeModule({"a": 1}), FakeEngine(log), Operation(converge, validate=validate, x=1))
    assert how == "exit"
    assert result == {
        "changed": True,
        "thing": {"a": 1},
        "diff": {"before": {}, "after": {"a": 1}},
        "round_trips": 2,
    }
    assert log == [
        ("require", {"x": 1}),
        "validate",
        ("connect", {"x": 1}),
        "open",
        ("converge", False),
        "close",
    ]


def test_check_mode_is_handed_to_converge_and_diff_only_with_diff_mode():
    seen = []

    def converge(session, params, check_mode):
        seen.append(check_mode)
        return {"changed": True, "diff": {"before": {}, "after": {}}}

    how, result = _run(FakeModule(check_mode=True, diff=False), FakeEngine([]), Operation(converge))
    assert how == "exit" and seen == [True] and "diff" not in result


def test_bad_input_fails_before_the_engine_is_touched():
    log = []

    def validate(params):
        raise ValidationError("size", "must be >= 1 (got 0)")

    how, result = _run(FakeModule(), FakeEngine(log), Operation(lambda *a: {}, validate=validate))
    assert how == "fail"
    assert result == {"msg": "size: must be >= 1 (got 0)", "option": "size"}
    assert [e for e in log if e in ("open",) or e[0] == "connect"] == []


def test_missing_binding_fails_first_with_its_traceback():
    log = []
    validated = []
    how, result = _run(
        FakeModule(), FakeEngine(log, missing=True), Operation(lambda *a: {}, validate=validated.append)
    )
    assert how == "fail" and result == {"msg": "binding missing", "exception": "traceback"}
    assert validated == [] and "open" not in log


def test_engine_error_fails_with_its_details_and_closes_the_session():
    log = []

    def converge(session, params, check_mode):
        raise EngineError("ceph osd pool set failed (-22): bad", errno=22)

    how, result = _run(FakeModule(), FakeEngine(log), Operation(converge))
    assert how == "fail" and result == {"msg": "ceph osd pool set failed (-22): bad", "errno": 22}
    assert log[-1] == "close"


def test_an_untranslated_error_of_the_binding_is_named_after_the_engine():
    log = []

    def converge(session, params, check_mode):
        raise NativeError("connection reset")

    how, result = _run(FakeModule(), FakeEngine(log), Operation(converge))
    assert how == "fail" and result == {"msg": "fake: connection reset"}
    assert log[-1] == "close"


def test_other_errors_are_bugs_and_propagate():
    def converge(session, params, check_mode):
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_module(FakeModule(), FakeEngine([]), Operation(converge))


def test_argument_spec_adds_the_connection_options_once():
    class Conn(Engine):
        connection_spec = {"uri": {"type": "str", "default": "qemu:///system"}}

    spec = Conn().argument_spec(name={"type": "str", "required": True})
    assert spec == {
        "uri": {"type": "str", "default": "qemu:///system"},
        "name": {"type": "str", "required": True},
    }
    assert Conn.connection_spec == {"uri": {"type": "str", "default": "qemu:///system"}}
