import copy

import pytest
from ansible_collections.scloud.stack.plugins.plugin_utils.cluster import ClusterError, parse


def _node(i, roles=("mgmt", "compute", "storage"), **kw):
    return {"name": f"n{i}", "address": f"10.0.{i // 250}.{i % 250 + 1}", "roles": list(roles), **kw}


def _cluster(nodes, **spec):
    return {
        "cluster": {"name": "c1", **spec},
        "datacenters": [{"name": "dc1", "racks": [{"name": "r1", "set": "s1", "nodes": nodes}]}],
    }


BASE = _cluster([_node(1), _node(2), _node(3)])


def test_groups_and_vars():
    cluster = parse(copy.deepcopy(BASE))
    groups = cluster.groups()
    assert groups["c1"] == ["n1", "n2", "n3"]
    assert groups["mgmt"] == groups["compute"] == groups["storage"] == ["n1", "n2", "n3"]
    assert groups["set_s1"] == groups["rack_r1"] == groups["dc_dc1"] == ["n1", "n2", "n3"]
    hv = cluster.host_vars(cluster.nodes[1])
    assert hv["ansible_host"] == "10.0.0.3"
    assert hv["ceph_crush_location"] == {"datacenter": "dc1", "rack": "r1", "host": "n2"}
    cv = cluster.cluster_vars()
    assert cv["ceph_mon_hosts"] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert cv["ovn_nb_remotes"] == "tcp:10.0.0.2:6641,tcp:10.0.0.3:6641,tcp:10.0.0.4:6641"


def test_node_set_overrides_rack_set_and_group_names_are_safe():
    data = _cluster([_node(1), _node(2, set="edge-2"), _node(3)], pool_size=1)
    groups = parse(data).groups()
    assert groups["set_edge_2"] == ["n2"]
    assert groups["set_s1"] == ["n1", "n3"]


@pytest.mark.parametrize(
    ("mutate", "where", "rule"),
    [
        (
            lambda d: d["datacenters"][0]["racks"][0]["nodes"].__setitem__(1, _node(1)),
            "nodes[1].name",
            "is already the name of",
        ),
        (
            lambda d: d["datacenters"][0]["racks"][0]["nodes"][1].__setitem__("address", "10.0.0.2"),
            "nodes[1].address",
            "10.0.0.2 is already the address of n1",
        ),
        (
            lambda d: d["datacenters"][0]["racks"][0]["nodes"][2].__setitem__("roles", []),
            "nodes[2].roles",
            "a node needs at least one role",
        ),
        (
            lambda d: d["datacenters"][0]["racks"][0]["nodes"][2].__setitem__("roles", ["dns"]),
            "nodes[2].roles",
            "unknown role(s) dns",
        ),
        (
            lambda d: d["datacenters"][0]["racks"][0]["nodes"][0].__setitem__("address", "10.0.0.300"),
            "nodes[0].address",
            "is not a valid IP address",
        ),
        (
            lambda d: d["datacenters"][0]["racks"][0]["nodes"][0].__setitem__("name", "Node_1"),
            "nodes[0].name",
            "is not a valid name",
        ),
        (
            lambda d: d["cluster"].__setitem__("failure_domain", "row"),
            "cluster.failure_domain",
            "must be one of host, rack, datacenter",
        ),
        (lambda d: d["cluster"].__setitem__("pool_size", 0), "cluster.pool_size", "must be an integer >= 1"),
        (lambda d: d.__setitem__("datacenters", []), "datacenters", "the cluster has no node"),
    ],
)
def test_rules(mutate, where, rule):
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ClusterError) as err:
        parse(data)
    assert where in str(err.value)
    assert rule in str(err.value)


def test_set_of_more_than_45_nodes():
    nodes = [_node(i, roles=("compute",)) for i in range(46)]
    nodes[0]["roles"] = ["mgmt"]
    with pytest.raises(ClusterError, match=r"set 's1': 46 nodes, a set holds at most 45"):
        parse(_cluster(nodes))


def test_45_nodes_is_fine():
    nodes = [_node(i, roles=("compute", "storage")) for i in range(45)]
    nodes[0]["roles"] = ["mgmt", "storage"]
    assert len(parse(_cluster(nodes)).nodes) == 45


@pytest.mark.parametrize("count", [2, 4])
def test_even_mgmt_count(count):
    nodes = [_node(i, roles=("mgmt", "storage")) for i in range(count)] + [_node(10, roles=("storage",))]
    with pytest.raises(ClusterError, match=rf"{count} mgmt nodes: use 1 or an odd number"):
        parse(_cluster(nodes))


def test_no_mgmt_node():
    with pytest.raises(ClusterError, match="needs at least one mgmt node"):
        parse(_cluster([_node(1, roles=("compute",))]))


def test_storage_set_with_too_few_failure_domains():
    nodes = [_node(1), _node(2, roles=("compute",)), _node(3, roles=("compute",))]
    with pytest.raises(ClusterError) as err:
        parse(_cluster(nodes))
    assert "set 's1'" in str(err.value) and "1 failure domain(s) of type host" in str(err.value)
    assert "pool_size is 3" in str(err.value)


def test_rack_failure_domain_counts_racks():
    data = _cluster([_node(1), _node(2), _node(3)], failure_domain="rack")
    with pytest.raises(ClusterError, match="1 failure domain"):
        parse(data)
    data["datacenters"][0]["racks"] = [{"name": f"r{i}", "set": "s1", "nodes": [_node(i)]} for i in (1, 2, 3)]
    assert parse(data).groups()["rack_r2"] == ["n2"]


def _members(layout, group):
    """Every host of ``group``, through its child groups too."""
    spec = layout[group]
    return sorted(spec["hosts"] + [h for child in spec["children"] for h in _members(layout, child)])


def test_layout_has_the_same_members_as_groups():
    data = {
        "cluster": {"name": "c1", "pool_size": 1},
        "datacenters": [
            {
                "name": "dc1",
                "racks": [
                    {"name": "r1", "set": "s1", "nodes": [_node(1)]},
                    {"name": "r2", "set": "s1", "nodes": [_node(2, roles=["storage"])]},
                ],
            },
            # rack "r1" again in another datacenter: its group cannot be a child of either datacenter
            {
                "name": "dc2",
                "racks": [
                    {"name": "r1", "set": "s2", "nodes": [_node(3, roles=["compute"])]},
                    {"name": "r3", "set": "s2", "nodes": [_node(4, roles=["compute"])]},
                ],
            },
        ],
    }
    cluster = parse(data)
    layout = cluster.layout()
    for group, members in cluster.groups().items():
        assert _members(layout, group) == sorted(members), group
    assert layout["dc_dc1"]["children"] == ["rack_r2"]
    assert layout["dc_dc2"]["children"] == ["rack_r3"]
    assert layout["dc_dc1"]["hosts"] == ["n1"] and layout["dc_dc2"]["hosts"] == ["n3"]
    assert layout["c1"]["children"] == ["dc_dc1", "dc_dc2"]
    assert layout["set_s2"]["vars"] == {"scloud_set": "s2"}
    assert layout["rack_r1"]["vars"] == {"scloud_rack": "r1"}
    assert layout["dc_dc2"]["vars"] == {"scloud_datacenter": "dc2"}


def test_own_host_vars_are_few_and_node_vars_win():
    cluster = parse(
        _cluster(
            [_node(1, disks=["/dev/sdb"], vars={"ceph_crush_location": {"host": "x"}}), _node(2), _node(3)]
        )
    )
    assert cluster.own_host_vars(cluster.nodes[0]) == {
        "ansible_host": "10.0.0.2",
        "scloud_overlay_address": "10.0.0.2",
        "scloud_disks": ["/dev/sdb"],
        "ceph_crush_location": {"host": "x"},
    }
    assert set(cluster.own_host_vars(cluster.nodes[1])) == {"ansible_host", "scloud_overlay_address"}
    assert set(cluster.derived_vars()) == {"scloud_roles", "ceph_crush_location"}
