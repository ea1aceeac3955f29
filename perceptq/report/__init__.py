"""What a person looks at: the self-contained HTML report and the per-pair plot.

:mod:`html` assembles the report from result tables, :mod:`sections` writes its parts,
:mod:`figures` draws its charts, :mod:`alerts` finds alert episodes (sliding-window rule
per group), and :mod:`plot` draws one scored pair. It reads tables through
:mod:`perceptq.batch` and audio through :mod:`perceptq.audio`; it never imports the CLI.
"""
