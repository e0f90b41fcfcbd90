"""Geometry for the server-rendered SVG bar chart of daily net revenue."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.formats import money
from app.domain.reports import DayNet

WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_BOTTOM, PAD_TOP = 720, 220, 64, 28, 28, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    negative: bool


@dataclass(frozen=True)
class Chart:
    currency: str
    bars: list[Bar]
    baseline: float
    top_label: str
    bottom_label: str
    width: int = WIDTH
    height: int = HEIGHT
    total: str = ""


def daily_charts(days: list[DayNet]) -> list[Chart]:
    """Return one bar chart per currency that had revenue in the period."""
    currencies = sorted({cur for day in days for cur in day.net})
    return [_chart(days, currency) for currency in currencies]


def _chart(days: list[DayNet], currency: str) -> Chart:
    values = [day.net.get(currency, 0) for day in days]
    high, low = max(max(values), 0), min(min(values), 0)
    span = (high - low) or 1
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT - PAD_RIGHT) / len(days)
    baseline = PAD_TOP + plot_h * high / span
    bars = []
    for n, (day, value) in enumerate(zip(days, values, strict=True)):
        height = plot_h * abs(value) / span
        bars.append(
            Bar(
                x=round(PAD_LEFT + n * step + step * 0.15, 2),
                y=round(baseline - height if value >= 0 else baseline, 2),
                width=round(step * 0.7, 2),
                height=round(height, 2),
                label=day.day.strftime("%d %b") if n % 5 == 0 or n == len(days) - 1 else "",
                title=f"{day.day.isoformat()}: {money(value, currency)}",
                negative=value < 0,
            )
        )
    return Chart(
        currency=currency,
        bars=bars,
        baseline=round(baseline, 2),
        top_label=money(high, currency),
        bottom_label=money(low, currency) if low else "",
        total=money(sum(values), currency),
    )
