"""What a table file (experiments/**/*.yaml) and a study file say, parsed and checked: pure Python.

    schema     typed fields that parse, check, document (`bench schema`) and serialise themselves;
               Kinds, a field holding one of several declared kinds
    yamlfile   YAML as read here: printed digits kept, merges (<<) traced
    recipe     Recipe, Dataset and Plan: what determines a run's result
    table      Table and Entry: a paper table's cells, loaded and cross-checked
    parts      where a table comes from (source kinds), layout, dispersion kinds, published numbers,
               derived cells, printed compute rows, effect charts
    claims/    a table's claims: one module per kind, each with its fields, its judge and its markup
    published  `bench published`: every published number with its source
    protocol   the source of every recipe field (the report's protocol card)
    params     params.yaml: suites, the selected entries and seeds
    study      a study file: baseline, arms, datasets, tuning budget, seeds
    vtab       the VTAB-1k tasks: splits and label rules as task_adaptation defines them

No torch, pandas or scipy: `bench validate` and `bench plan` stay fast.
"""
