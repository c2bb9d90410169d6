"""Card statements built the way public bodies publish them (UK councils, a Canadian
city, the Brazilian federal card), for the mapping-suggestion tests. Each layout knows
which of its columns a person would map, so a suggestion can be scored."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Layout:
    name: str
    headers: tuple[str, ...]
    delimiter: str
    # Role -> the headers a person would accept for it.
    truth: dict[str, frozenset[str]]
    decimal_comma: bool = False
    date_style: str = "%d/%m/%Y"
    encoding: str = "utf-8"


def _truth(**roles: str | tuple[str, ...]) -> dict[str, frozenset[str]]:
    return {
        role: frozenset((value,) if isinstance(value, str) else value)
        for role, value in roles.items()
    }


LAYOUTS = (
    Layout(
        "UK council, by service area",
        (
            "Service Area",
            "Card Holder",
            "Transaction Date",
            "Merchant Name",
            "Merchant Category",
            "Amount",
        ),
        ",",
        _truth(
            employee_id=("Card Holder", "Service Area"), amount="Amount", date="Transaction Date"
        ),
    ),
    Layout(
        "UK council, card numbers",
        (
            "TRANS DATE",
            "DIVISION",
            "MERCHANT NAME",
            "CARD NUMBER",
            "ORIGINAL GROSS AMT",
            "VAT",
            "COST CENTRE",
        ),
        ",",
        _truth(
            employee_id=("CARD NUMBER", "DIVISION"), amount="ORIGINAL GROSS AMT", date="TRANS DATE"
        ),
    ),
    Layout(
        "UK council, directorates",
        (
            "Directorate",
            "Cardholder Name",
            "Date",
            "Supplier",
            "Description",
            "Net Amount",
            "VAT",
            "Gross Amount",
        ),
        ",",
        _truth(
            employee_id=("Cardholder Name", "Directorate"),
            amount="Gross Amount",
            date="Date",
        ),
    ),
    Layout(
        "Canadian city",
        ("Department", "Cardholder", "Transaction Date", "Vendor", "Description", "Amount (CAD)"),
        ",",
        _truth(
            employee_id=("Cardholder", "Department"), amount="Amount (CAD)", date="Transaction Date"
        ),
        date_style="%Y-%m-%d",
    ),
    Layout(
        "Canadian city, purchasing cards",
        (
            "Purchase Date",
            "Division",
            "Card Holder",
            "Merchant",
            "MCC Description",
            "Transaction Amount",
            "GST",
        ),
        ",",
        _truth(
            employee_id=("Card Holder", "Division"),
            amount="Transaction Amount",
            date="Purchase Date",
        ),
        date_style="%m/%d/%Y",
    ),
    Layout(
        "Brazilian federal card (CPGF)",
        (
            "CÓDIGO ÓRGÃO SUPERIOR",
            "NOME ÓRGÃO SUPERIOR",
            "CÓDIGO UNIDADE GESTORA",
            "NOME UNIDADE GESTORA",
            "ANO EXTRATO",
            "MÊS EXTRATO",
            "CPF PORTADOR",
            "NOME PORTADOR",
            "CNPJ OU CPF FAVORECIDO",
            "NOME FAVORECIDO",
            "TRANSAÇÃO",
            "DATA TRANSAÇÃO",
            "VALOR TRANSAÇÃO",
        ),
        ";",
        _truth(
            employee_id=("CPF PORTADOR", "NOME PORTADOR"),
            amount="VALOR TRANSAÇÃO",
            date="DATA TRANSAÇÃO",
        ),
        decimal_comma=True,
        encoding="windows-1252",
    ),
)

PEOPLE = ["Ann Lee", "Bo Chen", "Carla Dias", "Dev Patel", "Eve Rossi", "Femi Ade", "Gus Berg"]
MERCHANTS = ["Tesco Stores", "Amazon Mktplace", "Shell 123", "Travelodge", "B&Q", "Staples", "Uber"]
AREAS = ["Finance", "Highways", "Parks", "Housing", "Libraries"]


def build(layout: Layout, rows: int, seed: int) -> tuple[bytes, Decimal]:
    """The file and the sum of its charges."""
    rng = random.Random(seed)
    lines = [layout.delimiter.join(layout.headers)]
    total = Decimal("0.00")
    for index in range(rows):
        person = rng.randrange(len(PEOPLE))
        amount = Decimal(rng.randrange(-2_000, 150_000)) / 100
        total += amount
        day = rng.randrange(1, 29)
        values = {
            "person": PEOPLE[person],
            "card": f"****{4000 + person * 37}",
            "cpf": f"***.{100 + person}.{200 + person}-**",
            "area": AREAS[person % len(AREAS)],
            "merchant": rng.choice(MERCHANTS),
            "date": f"2024-10-{day:02d}",
            "amount": amount,
        }
        lines.append(layout.delimiter.join(_cells(layout, values, index, rng)))
    text = "\r\n".join(lines) + "\r\n"
    return text.encode(layout.encoding), total


def _cells(layout: Layout, v: dict[str, object], index: int, rng: random.Random) -> list[str]:
    when = datetime.date.fromisoformat(str(v["date"])).strftime(layout.date_style)
    amount = Decimal(str(v["amount"]))
    written = f"{amount:.2f}".replace(".", ",") if layout.decimal_comma else f"{amount:.2f}"
    cells = {
        "Service Area": v["area"],
        "Card Holder": v["person"],
        "Transaction Date": when,
        "Merchant Name": v["merchant"],
        "Merchant Category": "Retail",
        "Amount": written,
        "TRANS DATE": when,
        "DIVISION": v["area"],
        "MERCHANT NAME": v["merchant"],
        "CARD NUMBER": v["card"],
        "ORIGINAL GROSS AMT": written,
        "VAT": f"{rng.randrange(0, 999) / 100:.2f}",
        "COST CENTRE": f"CC{rng.randrange(100, 120)}",
        "Directorate": v["area"],
        "Cardholder Name": v["person"],
        "Date": when,
        "Supplier": v["merchant"],
        "Description": rng.choice(["Stationery", "Fuel", "Hotel", "Books"]),
        "Net Amount": f"{amount * 5 / 6:.2f}",
        "Gross Amount": written,
        "Department": v["area"],
        "Cardholder": v["person"],
        "Vendor": v["merchant"],
        "Amount (CAD)": written,
        "Purchase Date": when,
        "Division": v["area"],
        "Merchant": v["merchant"],
        "MCC Description": "Office supplies",
        "Transaction Amount": written,
        "GST": f"{rng.randrange(0, 999) / 100:.2f}",
        "CÓDIGO ÓRGÃO SUPERIOR": "26000",
        "NOME ÓRGÃO SUPERIOR": "Ministério da Educação",
        "CÓDIGO UNIDADE GESTORA": f"{153000 + index % 3}",
        "NOME UNIDADE GESTORA": "Universidade",
        "ANO EXTRATO": "2024",
        "MÊS EXTRATO": "10",
        "CPF PORTADOR": v["cpf"],
        "NOME PORTADOR": str(v["person"]).upper(),
        "CNPJ OU CPF FAVORECIDO": f"{10000000 + index}",
        "NOME FAVORECIDO": str(v["merchant"]).upper(),
        "TRANSAÇÃO": "COMPRA A/V - R$ - APRES",
        "DATA TRANSAÇÃO": when,
        "VALOR TRANSAÇÃO": written,
    }
    return [str(cells[header]) for header in layout.headers]
