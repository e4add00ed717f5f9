"""The conversion's rules: what a row must hold to become a line, and the reason codes for what does not.

Kept free of polars so that checking a conversion's completeness (every no-op run does, and the rules are
part of it) imports nothing heavy. ``lines.py`` applies these rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

PRICE_SCALE = 3
# decimal(18,3) holds values below 10^15 (15 digits before the point): the unit price and the line
# amount (quantity x price) must fit.
MAX_AMOUNT = 10**15
MAX_PRICE_DIGITS = 15
# Quantities are summed per invoice, month and product into bigint columns: a bound far above any real
# order keeps every such sum inside bigint, so no later stage can fail on an accepted line.
MAX_QUANTITY = 10**9

# Every reason a row can be rejected for at conversion, in the order they are checked, and what to do.
REJECT_REASONS = {
    "blank_row": "the row is empty",
    "missing_invoice_no": "no invoice number",
    "missing_stock_code": "no stock code",
    "missing_quantity": "no quantity",
    "invalid_quantity": "the quantity is not a whole number",
    "quantity_out_of_range": f"the quantity is {MAX_QUANTITY:,} or more",
    "missing_invoice_date": "no invoice date (a formula without a saved value looks like this)",
    "day_first_invoice_date": "a day-first date (13/12/2010); set [pipeline] date_order = DMY to read them",
    "ambiguous_invoice_date": "a date like 01/12/2010 that the export does not tell how to read; set "
    "[pipeline] date_order = DMY or MDY",
    "invalid_invoice_date": "the invoice date is not a date",
    "invoice_date_out_of_range": "the invoice date is outside [pipeline] earliest_invoice_date .. "
    "latest_invoice_date",
    "missing_unit_price": "no unit price",
    "invalid_unit_price": "the unit price is not a number with at most three decimals",
    "unit_price_out_of_range": "the unit price does not fit decimal(18,3)",
    "line_amount_out_of_range": "quantity x unit price does not fit decimal(18,3)",
    "invalid_customer_id": "the customer id is not a whole number, or is below 0 (0 reads as no customer)",
    "missing_country": "no country",
}


DATE_ORDERS = ("auto", "MDY", "DMY")


@dataclass(frozen=True)
class ConversionRules:
    """The settings that shape what a conversion produces; a change re-converts every export."""

    date_order: str = "auto"
    earliest_invoice_date: dt.date = dt.date(2000, 1, 1)
    latest_invoice_date: dt.date = dt.date(2099, 12, 31)

    def __post_init__(self):
        if self.date_order not in DATE_ORDERS:
            raise ValueError(
                f"[pipeline] date_order must be one of {', '.join(DATE_ORDERS)}, not {self.date_order!r}"
            )
        if self.earliest_invoice_date > self.latest_invoice_date:
            raise ValueError("[pipeline] earliest_invoice_date is after latest_invoice_date")

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}
