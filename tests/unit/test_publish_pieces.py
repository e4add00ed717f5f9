"""How the publish cuts tables into pieces and orders them: pure functions, no server."""

from __future__ import annotations

import dataclasses
import json

from pipeline.lib.publish_layout import _dependency_order
from pipeline.lib.publish_pieces import Piece, Shape, _LiveVersion, _month_bounds, _months_touched
from pipeline.lib.specs import TableSpec


def test_a_month_s_bounds_are_its_yyyymmdd_keys_and_december_ends_in_january():
    assert _month_bounds("201103") == (20110300, 20110400)
    assert _month_bounds("201012") == (20101200, 20110100)
    low, high = _month_bounds("201112")
    assert low <= 20111231 < high and not low <= 20120101 < high


def test_a_table_with_a_not_null_calendar_key_is_partitioned_and_its_key_holds_the_month():
    fact = TableSpec("fct_sales", "", primary_key=["sales_line_key"], not_null={"date_key"},
                     foreign_keys=[("date_key", "dim_date", "date_key")])  # fmt: skip
    nullable = TableSpec("fct_x", "", primary_key=["k"], foreign_keys=[("date_key", "dim_date", "date_key")])
    calendar = TableSpec("dim_date", "", primary_key=["date_key"], not_null={"date_key"})

    assert fact.partition_column == "date_key" and fact.live_primary_key == ["sales_line_key", "date_key"]
    assert nullable.partition_column is None and nullable.live_primary_key == ["k"]
    assert calendar.partition_column is None and calendar.live_primary_key == ["date_key"]


def test_referenced_tables_come_first_and_a_shape_s_signature_survives_the_ledger():
    def shape(name, *targets):
        return Shape(name, [("k", "bigint", True)], ["k"], None, [("k", t, "k") for t in targets])

    shapes = {s.name: s for s in [shape("fct_sales", "dim_customer", "dim_date"),
                                  shape("dim_customer", "dim_country"), shape("dim_country"),
                                  shape("dim_date"), shape("rpt_x")]}  # fmt: skip
    order = _dependency_order(shapes)

    assert order.index("dim_country") < order.index("dim_customer") < order.index("fct_sales")
    assert order.index("dim_date") < order.index("fct_sales") and sorted(order) == sorted(shapes)
    again = Shape.from_json(json.loads(json.dumps(dataclasses.asdict(shapes["fct_sales"]))))
    assert again.signature == shapes["fct_sales"].signature


def test_months_touched_are_those_copied_and_those_taken_out():
    fact = Shape("fct_sales", [("date_key", "integer", True)], ["date_key"], "date_key", [])
    live = _LiveVersion(1, "w1", {"fct_sales": fact}, {"fct_sales": {
        "201101": {"fingerprint": "a", "rows": 1, "relation": "analytics_v1.fct_sales_201101"},
        "201102": {"fingerprint": "b", "rows": 1, "relation": "analytics_v1.fct_sales_201102"},
        "201103": {"fingerprint": "c", "rows": 1, "relation": "analytics_v1.fct_sales_201103"},
    }})  # fmt: skip
    pieces = [
        Piece("fct_sales", "201101", "a", 1, {}, "analytics_v1.fct_sales_201101"),
        Piece("fct_sales", "201102", "b2", 2, {}, "analytics_v2.fct_sales_201102", copied=True),
        Piece("fct_sales", "201104", "d", 1, {}, "analytics_v2.fct_sales_201104", copied=True),
    ]

    assert _months_touched({"fct_sales": fact}, pieces, live, set()) == {
        "fct_sales": ["201102", "201103", "201104"]
    }
    assert _months_touched({"fct_sales": fact}, pieces, None, set()) == {"fct_sales": ["201102", "201104"]}
