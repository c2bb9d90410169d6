"""Bar charts drawn as SVG by our own template (templates/audit/_bar_chart.html): the
geometry is computed here, in whole SVG units, so the template only places shapes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.money import format_money

CHART_WIDTH = 640
CHART_HEIGHT = 240
PLOT_TOP = 24
PLOT_BOTTOM = 196  # bars end here; the labels go underneath
PLOT_LEFT = 8
PLOT_RIGHT = 632
BAR_GAP = 8


@dataclass(frozen=True)
class Bar:
    label: str  # full, for the tooltip and screen readers
    short_label: str  # under the bar: short, and distinct from every other bar's
    value_label: str
    x: int
    y: int
    width: int
    height: int

    @property
    def center(self) -> int:
        return self.x + self.width // 2

    @property
    def value_y(self) -> int:
        return max(self.y - 6, PLOT_TOP - 6)


@dataclass
class BarChart:
    title: str
    chart_id: str
    bars: list[Bar] = field(default_factory=list)
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    baseline: int = PLOT_BOTTOM
    left: int = PLOT_LEFT
    right: int = PLOT_RIGHT
    label_y: int = PLOT_BOTTOM + 18

    @property
    def empty(self) -> bool:
        return not self.bars


def bar_chart(
    *,
    title: str,
    chart_id: str,
    items: Sequence[tuple[str, Decimal | int]],
    unit: str = "",
    money: bool = False,
) -> BarChart:
    """One bar per item, heights proportional to the largest value (zero-height bars are
    drawn as a hairline so a zero reads as zero, not as missing)."""
    chart = BarChart(title=title, chart_id=chart_id)
    if not items:
        return chart
    peak = max((Decimal(value) for _, value in items), default=Decimal(0))
    slot = (PLOT_RIGHT - PLOT_LEFT) // len(items)
    width = max(slot - BAR_GAP, 4)
    plot_height = PLOT_BOTTOM - PLOT_TOP
    short_labels = distinct_labels([label for label, _ in items], width=max(slot // 7, 4))
    for index, (label, value) in enumerate(items):
        share = Decimal(value) / peak if peak > 0 else Decimal(0)
        height = max(int(share * plot_height), 1)
        chart.bars.append(
            Bar(
                label=label,
                short_label=short_labels[index],
                value_label=format_money(value) if money else f"{value}{unit}",
                x=PLOT_LEFT + index * slot + BAR_GAP // 2,
                y=PLOT_BOTTOM - height,
                width=width,
                height=height,
            )
        )
    return chart


def distinct_labels(labels: Sequence[str], *, width: int) -> list[str]:
    """Labels cut to `width` characters that still tell the bars apart: when two cut
    labels collide, each keeps its start and ends with its own number ("October 2…#2")."""
    cut = [label if len(label) <= width else label[: width - 1] + "…" for label in labels]
    seen: dict[str, int] = {}
    for text in cut:
        seen[text] = seen.get(text, 0) + 1
    counters: dict[str, int] = {}
    result = []
    for text, label in zip(cut, labels, strict=True):
        if seen[text] == 1:
            result.append(text)
            continue
        counters[text] = counters.get(text, 0) + 1
        suffix = f"#{counters[text]}"
        result.append(label[: max(width - len(suffix) - 1, 1)] + "…" + suffix)
    return result
