"""Tables as text: Markdown for reading, booktabs LaTeX for pasting into a paper."""

from __future__ import annotations

import pandas as pd


def to_markdown(shown: pd.DataFrame, title: str) -> str:
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([f"**{title}**", "", header, rule, *body]) + "\n"


def to_latex(shown: pd.DataFrame, caption: str, label: str, n_key_columns: int) -> str:
    """A booktabs table (keys left, numbers right); text is escaped to print as written."""
    align = "l" * n_key_columns + "r" * (len(shown.columns) - n_key_columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{tab:{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(str(c)) for c in shown.columns) + r" \\",
        r"\midrule",
        *(
            " & ".join(latex_escape(str(v)) for v in row) + r" \\"
            for row in shown.itertuples(index=False)
        ),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """`text` as LaTeX that prints it as written."""
    return "".join(_LATEX_ESCAPES.get(char, char) for char in text)
