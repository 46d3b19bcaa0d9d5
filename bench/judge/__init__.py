"""Runs to verdicts: `bench collect`, `bench stats`, `bench power`, `bench check`.

    collect    runs/<entry>/<seed>/metrics.json -> results/runs.csv (one row per run and metric)
    verdicts   each cell judged, each claim by its kind -> results/verdicts.csv, claims.csv (the tests:
               bench.stats)
    power      what the configured seeds can detect, per table
    gate       the CI gate: exit 1 when a cell is DISCREPANT in the worse direction or a claim CONTRADICTED
"""
