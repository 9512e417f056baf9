"""User text in the Space: the rule a submitted name must pass, and the one escaping function for every place
where submitted text reaches Markdown or HTML. Plain Python: no gradio.

Names (arm, model architecture, pretraining corpus: every free-text field of a submission) are normalised to
Unicode NFKC (full-width and compatibility forms fold to their plain letters) and must then be 1 to
`NAME_MAX` characters of letters, digits, combining marks and the ASCII characters in `NAME_PUNCT`
(space . _ - / + = ( ) ,), start with a letter or digit, hold no leading, trailing or doubled space, and take
their letters from one script (or Latin with Chinese, Japanese or Korean). So no control, bidi, zero-width or
other invisible character, and no Cyrillic or Greek lookalike letter among Latin ones, can make one name look
like another, and no link, image, code span or HTML (! [ ] ` < > & * # | ...) can be stored at all (`_` and
parentheses can: `escape` handles them).

`escape` is the second layer, for text that reached the board anyway (the operator's own folder label, a file
name, a refused value quoted in a message): every character but letters, digits and spaces becomes a numeric
character reference (`&#33;` for `!`). Markdown (CommonMark: "entity and numeric character references are
treated as literal text") and HTML both show such a reference as its character and never as syntax. It is
for gr.Markdown / gr.HTML text outside code spans (a code span shows the reference itself: use <code>).
Components that render a value as a text node (gr.Dataframe "str" cells, gr.CheckboxGroup choices, the
plot's legend and tooltip) take the plain, rule-checked name: escaping there would show `&#33;` to the reader.
"""

from __future__ import annotations

import unicodedata

NAME_MAX = 100
NAME_PUNCT = " ._-/+=(),"
NAME_RULE = (
    f"a name is 1 to {NAME_MAX} characters (after Unicode NFKC normalisation) of letters, digits and "
    f"the characters {' '.join(NAME_PUNCT.strip())} and space, starting with a letter or digit, "
    "with single spaces between words, its letters from one script (or Latin with Chinese, Japanese or "
    "Korean)"
)
# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): drawn as nothing, some of them
# letters or marks by category (U+3164 HANGUL FILLER is a letter), so the category test alone misses them.
INVISIBLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


# Unicode TR39's "highly restrictive" level: a name's letters come from one script, or from one of these sets
# (Japanese, Chinese and Korean writing mix scripts with each other and with Latin). Mixed Latin and Cyrillic or
# Greek is how a lookalike of another arm's name is made (`rnd` with a Cyrillic `р`).
MIXES = ({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}, {"LATIN", "CJK", "BOPOMOFO"}, {"LATIN", "CJK", "HANGUL"})


class NameRuleError(ValueError):
    """A name breaks the name rule; the message says which character or which part of the rule."""


def _describe(c: str) -> str:
    return f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})"


def _invisible(c: str) -> bool:
    """Control, format (bidi marks, zero-width joiners), separator other than space, private-use, unassigned,
    surrogate, or default-ignorable."""
    cat = unicodedata.category(c)
    return cat[0] == "C" or (cat[0] == "Z" and c != " ") or any(lo <= ord(c) <= hi for lo, hi in INVISIBLE)


def _script(letter: str) -> str:
    """The script of a letter, from its Unicode name: LATIN, CYRILLIC, GREEK, CJK (Han), HIRAGANA, ..."""
    return unicodedata.name(letter, "UNKNOWN").split()[0].split("-")[0]


def check_name(value: str) -> str:
    """The NFKC form of `value` if it passes the name rule; NameRuleError saying what breaks it otherwise."""
    name = unicodedata.normalize("NFKC", value)
    if not name:
        raise NameRuleError(f"is empty; {NAME_RULE}")
    if len(name) > NAME_MAX:
        raise NameRuleError(f"is {len(name)} characters long; {NAME_RULE}")
    for c in name:
        if _invisible(c):
            raise NameRuleError(f"holds the invisible or control character {_describe(c)}; {NAME_RULE}")
        if not (unicodedata.category(c)[0] in "LNM" or c in NAME_PUNCT):
            raise NameRuleError(f"holds {_describe(c)}, which names may not hold; {NAME_RULE}")
    scripts = {_script(c) for c in name if unicodedata.category(c)[0] == "L"}
    if len(scripts) > 1 and not any(scripts <= mix for mix in MIXES):
        raise NameRuleError(
            f"mixes the scripts {', '.join(sorted(scripts))} (a lookalike of another name); {NAME_RULE}"
        )
    if not name[0].isalnum():
        raise NameRuleError(f"starts with {_describe(name[0])}; {NAME_RULE}")
    if name != name.strip() or "  " in name:
        raise NameRuleError(f"has a leading, trailing or doubled space; {NAME_RULE}")
    return name


def escape(text) -> str:
    """`text` for gr.Markdown or HTML, shown literally: every character but letters, digits and spaces as a
    numeric character reference. The one escaping function of the Space (see the module docstring)."""
    return "".join(c if c == " " or (c.isalnum() and not _invisible(c)) else f"&#{ord(c)};" for c in str(text))
