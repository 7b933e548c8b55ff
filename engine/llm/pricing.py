"""Per-model prices (USD per million tokens) and the cost of one exchange."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.ground.errors import UsageError


class Price(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1_000_000


# List prices at the time of writing; they change, so `--price IN,OUT` (parse_price) overrides them.
PRICES: dict[str, Price] = {
    "deepseek-chat": Price(input_per_m=0.27, output_per_m=1.10),
    "deepseek-reasoner": Price(input_per_m=0.55, output_per_m=2.19),
    "gpt-4o": Price(input_per_m=2.50, output_per_m=10.00),
    "gpt-4o-mini": Price(input_per_m=0.15, output_per_m=0.60),
    "gpt-4.1": Price(input_per_m=2.00, output_per_m=8.00),
    "gpt-4.1-mini": Price(input_per_m=0.40, output_per_m=1.60),
    "gpt-4.1-nano": Price(input_per_m=0.10, output_per_m=0.40),
}


def price_for(model: str, override: Price | None = None) -> Price | None:
    """The override if given, else the table's price for model, else None (cost unknown)."""
    return override if override is not None else PRICES.get(model)


def parse_price(text: str) -> Price:
    """Parse 'IN,OUT' (USD per million input and output tokens), e.g. '0.27,1.10'."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        return Price(input_per_m=float(parts[0]), output_per_m=float(parts[1]))
    except ValueError:
        raise UsageError(
            f"price {text!r} is not 'IN,OUT'",
            "give USD per million input and output tokens, e.g. --price 0.27,1.10",
        ) from None
