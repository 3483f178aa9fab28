"""Each filter plugin: a placement it allows and one it refuses, with Kubernetes' reason."""

from __future__ import annotations

from tests.scheduler.objects import node, pod, why


def test_node_unschedulable_refuses_cordoned_node_unless_tolerated(place):
    nodes = [node("a", unschedulable=True), node("b")]
    assert place(pod("p"), nodes).node_name == "b"
    only = place(pod("p"), [node("a", unschedulable=True)])
    assert only.node_name is None
    assert why(only) == "0/1 nodes are available: 1 node(s) were unschedulable."
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert place(pod("p", tolerations=tol), [node("a", unschedulable=True)]).node_name == "a"


def test_node_name_only_matches_named_node(place):
    nodes = [node("a"), node("b"), node("c")]
    assert place(pod("p", node_name="b"), nodes).node_name == "b"
    res = place(pod("p", node_name="zzz"), nodes)
    assert why(res) == "0/3 nodes are available: 3 node(s) didn't match the requested node name."


def test_taints_need_tolerations(place):
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    res = place(pod("p"), [node("a", taints=[taint])])
    assert why(res) == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."
    tol = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    assert place(pod("p", tolerations=tol), [node("a", taints=[taint])]).node_name == "a"
    wrong = [{"key": "dedicated", "operator": "Equal", "value": "cpu"}]
    assert place(pod("p", tolerations=wrong), [node("a", taints=[taint])]).node_name is None
    no_exec = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    assert place(pod("p"), [node("a", taints=[no_exec])]).node_name is None
    assert (
        place(pod("p", tolerations=[{"operator": "Exists"}]), [node("a", taints=[no_exec])]).node_name == "a"
    )


def test_prefer_no_schedule_taint_does_not_filter(place):
    soft = {"key": "k", "value": "v", "effect": "PreferNoSchedule"}
    assert place(pod("p"), [node("a", taints=[soft])]).node_name == "a"


def test_node_selector(place):
    nodes = [node("a", labels={"disk": "ssd"}), node("b", labels={"disk": "hdd"})]
    assert place(pod("p", nodeSelector={"disk": "ssd"}), nodes).node_name == "a"
    res = place(pod("p", nodeSelector={"disk": "nvme"}), nodes)
    assert why(res) == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


def _required(*terms):
    return {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    }


def test_required_node_affinity_operators(place):
    nodes = [
        node("a", labels={"zone": "z1", "gen": "3"}),
        node("b", labels={"zone": "z2", "gen": "5"}),
        node("c", labels={"zone": "z3"}),
    ]

    def where(*exprs, fields=None):
        term = {"matchExpressions": list(exprs)}
        if fields:
            term["matchFields"] = fields
        res = place(pod("p", affinity=_required(term)), nodes)
        return res.node_name

    assert where({"key": "zone", "operator": "In", "values": ["z2"]}) == "b"
    assert where({"key": "gen", "operator": "Gt", "values": ["4"]}) == "b"
    assert where({"key": "gen", "operator": "Lt", "values": ["4"]}) == "a"
    assert where({"key": "gen", "operator": "DoesNotExist"}) == "c"
    assert (
        where({"key": "gen", "operator": "Exists"}, {"key": "zone", "operator": "NotIn", "values": ["z1"]})
        == "b"
    )
    assert where(fields=[{"key": "metadata.name", "operator": "In", "values": ["c"]}]) == "c"
    assert where({"key": "zone", "operator": "In", "values": ["z9"]}) is None
    # terms are ORed
    either = _required(
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z9"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z3"]}]},
    )
    assert place(pod("p", affinity=either), nodes).node_name == "c"


def test_host_ports(place):
    web = {"name": "c", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8080}]}
    taken = pod("old", node_name="a", containers=[web])
    nodes = [node("a"), node("b")]
    assert place(pod("new", containers=[web]), nodes, [taken]).node_name == "b"
    res = place(pod("new", containers=[web]), [node("a")], [taken])
    assert (
        why(res) == "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    )
    udp = {"name": "c", "image": "dns", "ports": [{"containerPort": 53, "hostPort": 8080, "protocol": "UDP"}]}
    assert place(pod("new", containers=[udp]), [node("a")], [taken]).node_name == "a"
    ip1 = {"name": "c", "image": "x", "ports": [{"containerPort": 1, "hostPort": 9000, "hostIP": "10.0.0.1"}]}
    ip2 = {"name": "c", "image": "x", "ports": [{"containerPort": 1, "hostPort": 9000, "hostIP": "10.0.0.2"}]}
    held = pod("old", node_name="a", containers=[ip1])
    assert place(pod("new", containers=[ip2]), [node("a")], [held]).node_name == "a"
    assert place(pod("new", containers=[ip1]), [node("a")], [held]).node_name is None
    assert (
        place(pod("new", containers=[web | {"ports": [{"hostPort": 9000}]}]), [node("a")], [held]).node_name
        is None
    )


def test_resources_fit_counts_requests_and_pods(place):
    nodes = [node("small", cpu="1", memory="1Gi"), node("big", cpu="8", memory="16Gi")]
    assert place(pod("p", cpu="2", memory="1Gi"), nodes).node_name == "big"
    res = place(pod("p", cpu="16", memory="64Gi"), nodes)
    assert why(res) == "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."
    full = [node("one", pods="1")]
    res = place(pod("p"), full, [pod("there", node_name="one")])
    assert why(res) == "0/1 nodes are available: 1 Too many pods."
    used = [pod("there", cpu="3", node_name="a")]
    assert place(pod("p", cpu="1"), [node("a", cpu="4")], used).node_name == "a"
    assert place(pod("p", cpu="1001m"), [node("a", cpu="4")], used).node_name is None


def test_resources_fit_init_containers_and_overhead(place):
    init = [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "3"}}}]
    assert place(pod("p", cpu="1", initContainers=init), [node("a", cpu="3")]).node_name == "a"
    assert place(pod("p", cpu="1", initContainers=init), [node("a", cpu="2")]).node_name is None
    sidecar = [
        {"name": "s", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}}
    ]
    assert place(pod("p", cpu="2", initContainers=sidecar), [node("a", cpu="2")]).node_name is None
    assert place(pod("p", cpu="1", overhead={"cpu": "1500m"}), [node("a", cpu="2")]).node_name is None


def test_extended_resources(place):
    nodes = [node("cpu-only"), node("gpu", extra={"nvidia.com/gpu": "2"})]
    gpu = pod("p", containers=[{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}])
    assert place(gpu, nodes).node_name == "gpu"
    three = pod(
        "p", containers=[{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "3"}}}]
    )
    assert why(place(three, nodes)) == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


def _spread(max_skew=1, key="zone", hard=True, **extra):
    return {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}},
        **extra,
    }


ZONES = [
    node("a1", labels={"zone": "a"}),
    node("a2", labels={"zone": "a"}),
    node("b1", labels={"zone": "b"}),
]


def test_topology_spread_hard(place):
    web = {"app": "web"}
    placed = [pod("w1", labels=web, node_name="a1")]
    res = place(pod("w2", labels=web, topologySpreadConstraints=[_spread()]), ZONES, placed)
    assert res.node_name == "b1"
    placed.append(pod("w2", labels=web, node_name="b1"))
    placed.append(pod("w3", labels=web, node_name="a2"))  # zone a: 2, zone b: 1
    res = place(pod("w4", labels=web, topologySpreadConstraints=[_spread()]), ZONES, placed)
    assert res.node_name == "b1"
    blocked = place(
        pod("w4", labels=web, topologySpreadConstraints=[_spread()]),
        ZONES[:2] + [node("b1", labels={"zone": "b"}, pods="1")],
        placed,
    )
    assert blocked.node_name is None
    assert "2 node(s) didn't match pod topology spread constraints" in why(blocked)
    assert "1 Too many pods" in why(blocked)


def test_topology_spread_missing_label_and_min_domains(place):
    web = {"app": "web"}
    res = place(pod("w", labels=web, topologySpreadConstraints=[_spread()]), [node("x")])
    assert why(res) == (
        "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)."
    )
    # one domain exists, minDomains 2: the global minimum counts as 0, so a second pod there is refused
    placed = [pod("w1", labels=web, node_name="a1")]
    c = _spread(minDomains=2)
    assert place(pod("w2", labels=web, topologySpreadConstraints=[c]), ZONES[:2], placed).node_name is None
    assert place(pod("w2", labels=web, topologySpreadConstraints=[_spread()]), ZONES[:2], placed).node_name


def test_topology_spread_honors_node_affinity_by_default(place):
    web = {"app": "web"}
    placed = [pod("w1", labels=web, node_name="a1")]
    sel = {"zone": "a"}
    # zone b is excluded by the nodeSelector, so it does not hold the global minimum
    res = place(pod("w2", labels=web, nodeSelector=sel, topologySpreadConstraints=[_spread()]), ZONES, placed)
    assert res.node_name in ("a1", "a2")
    ignore = _spread(nodeAffinityPolicy="Ignore")
    res = place(pod("w2", labels=web, nodeSelector=sel, topologySpreadConstraints=[ignore]), ZONES, placed)
    assert res.node_name is None


def _pod_term(labels, key="zone", namespaces=None):
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
    if namespaces is not None:
        term["namespaces"] = namespaces
    return term


def test_pod_affinity_required(place):
    db = pod("db", labels={"app": "db"}, node_name="b1")
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_pod_term({"app": "db"})]}}
    assert place(pod("web", affinity=aff), ZONES, [db]).node_name == "b1"
    other_ns = pod("db", labels={"app": "db"}, node_name="b1", namespace="other")
    res = place(pod("web", affinity=aff), ZONES, [other_ns, pod("x", labels={"app": "x"}, node_name="a1")])
    assert why(res) == "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."
    cross = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [_pod_term({"app": "db"}, namespaces=["other"])]
        }
    }
    assert place(pod("web", affinity=cross), ZONES, [other_ns]).node_name == "b1"


def test_pod_affinity_first_pod_of_self_selecting_group_is_allowed(place):
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_pod_term({"app": "web"})]}}
    assert place(pod("w1", labels={"app": "web"}, affinity=aff), ZONES).node_name is not None
    assert place(pod("w1", labels={"app": "other"}, affinity=aff), ZONES).node_name is None


def test_pod_anti_affinity_required(place):
    anti = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_pod_term({"app": "web"})]}
    }
    placed = [pod("w1", labels={"app": "web"}, node_name="a1")]
    assert place(pod("w2", labels={"app": "web"}, affinity=anti), ZONES, placed).node_name == "b1"
    placed.append(pod("w3", labels={"app": "web"}, node_name="b1"))
    res = place(pod("w2", labels={"app": "web"}, affinity=anti), ZONES, placed)
    assert why(res) == "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."


def test_existing_pods_anti_affinity_blocks_new_pod(place):
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                _pod_term({"app": "noisy"}, key="kubernetes.io/hostname")
            ]
        }
    }
    placed = [pod("quiet", labels={"app": "quiet"}, node_name="a1", affinity=anti)]
    res = place(pod("n", labels={"app": "noisy"}), [ZONES[0]], placed)
    assert why(res) == "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    assert place(pod("n", labels={"app": "noisy"}), ZONES[:2], placed).node_name == "a2"
    assert place(pod("n", labels={"app": "calm"}), [ZONES[0]], placed).node_name == "a1"
