"""Pure logic of the API's alarm rules and subscriptions: which field a promtool error names, the
rule file a spec becomes, which alarms a subscription wants."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from scloud_api import alarms, rules
from scloud_api.models import Alarm, AlarmSubscription
from scloud_api.specs import AlarmRuleSpec


@pytest.mark.parametrize(
    ("line", "loc"),
    [
        (
            'rule: 5:11: group "check", rule 1, "X": could not parse expression: 1:8: parse error',
            ["body", "expr"],
        ),
        (
            'rule: group "check", rule 1, "X": annotation "summary": template: __alert_X:1: function',
            ["body", "summary"],
        ),
        ('rule: group "check", rule 1, "X": label "team": template: __alert_X:1', ["body", "labels", "team"]),
        ("rule: something else", ["body"]),
    ],
)
def test_promtool_errors_name_the_field(line, loc):
    assert rules._loc(line) == loc


def test_a_spec_becomes_the_rule_prometheus_reads():
    spec = AlarmRuleSpec.model_validate(
        {
            "expr": "up == 0",
            "for": "5m",
            "summary": "{{ $labels.node }} down",
            "runbook": "r",
            "labels": {"t": "x"},
        }
    )
    assert spec.rule("NodeGone") == {
        "alert": "NodeGone",
        "expr": "up == 0",
        "for": "5m",
        "labels": {"t": "x", "severity": "warning"},
        "annotations": {"summary": "{{ $labels.node }} down", "runbook": "r"},
    }
    assert spec.model_dump(mode="json")["for"] == "5m"  # the record keeps Prometheus' name


@pytest.mark.parametrize("labels", [{"severity": "x"}, {"alertname": "y"}, {"bad-name": "z"}])
def test_reserved_or_bad_labels_are_refused(labels):
    with pytest.raises(ValidationError):
        AlarmRuleSpec.model_validate({"expr": "up", "summary": "s", "runbook": "r", "labels": labels})


@pytest.mark.parametrize(
    ("severities", "names", "wanted"),
    [
        ([], [], True),
        (["critical"], [], True),
        (["warning"], [], False),
        ([], ["CephOsdDown"], True),
        ([], ["X"], False),
    ],
)
def test_a_subscription_wants_what_its_filters_name(severities, names, wanted):
    sub = AlarmSubscription(severities=severities, alarms=names)
    alarm = Alarm(name="CephOsdDown", severity="critical")
    assert alarms.matches(sub, alarm) is wanted
