"""The campaign as schools and districts run it: the scope of a `district`
or `school` account (scope.py), and coverage: the registry's enrolled
students and active teachers against those holding a card, by unit
(coverage.py), written as CSV or Excel (export.py)."""
