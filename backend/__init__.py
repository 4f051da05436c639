"""Backend of the 学习号 claim assistant: registry, cards, claim log, API."""
