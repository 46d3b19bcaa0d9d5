"""Improvement studies: a proposed change tested against a baseline with equal tuning budgets.

The study file itself (baseline entry, arms, datasets, budget, seeds) is bench.tables.study.

    tune      one (arm, dataset): Optuna trials on the held-out split, resumable from their journal
    final     the chosen configuration trained with the study's seeds on the full training split
    analyze   paired effects with Holm-adjusted one-sided tests; IQM and probability of improvement
    results   every study's records into results/studies/ (bench study analyze)
"""
