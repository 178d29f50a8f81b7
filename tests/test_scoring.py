"""Scoring tables: the GRPO training rewards replayed quirk for quirk, the extraction of the
stated answer, math-verify grading (every MATH-500 gold against itself, in tags, boxed and prose),
a regression table of real model outputs (tests/scoring_cases.py) and thread safety.

    python -m pytest tests/test_scoring.py -q
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grpo_compare.prompts import XML_COT
from grpo_compare.scoring import (
    GRADE_TIMEOUT_S,
    NOTEBOOK_REWARDS,
    correctness_reward,
    extract_answer,
    extract_hash_answer,
    extract_xml_answer,
    grade,
    int_reward,
    notebook_rewards,
    score,
    soft_format_reward,
    strict_format_reward,
    xmlcount_reward,
)
from scoring_cases import (
    DEFAULT_RUN,
    GSM8K_MODEL_SOLUTIONS,
    MATH_VERIFY,
    SLOW_SYMPY,
    ZERO_SHOT_COT,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# The canonical training format: one-line reasoning, one-line answer, final newline.
PERFECT = "<reasoning>\nr\n</reasoning>\n<answer>\n18\n</answer>\n"
MULTILINE = "<reasoning>\nfirst\nsecond\n</reasoning>\n<answer>\n18\n</answer>\n"
ONE_LINE = "<reasoning>r</reasoning>\n<answer>18</answer>"
VECTOR = "\\begin{pmatrix} -2 \\\\ -7 \\end{pmatrix}"


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def test_system_prompt_is_the_training_prompt_byte_for_byte():
    # The LoRA was trained with exactly this string; one changed byte changes the prompt.
    assert XML_COT == (
        "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n"
        "<answer>\n...\n</answer>\n"
    )


# --- training extraction ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("<answer>\n 7 \n</answer>", "7"),  # stripped inside the tags
    ("<answer>1</answer> then <answer>2</answer>", "2"),  # the LAST <answer> wins
    ("<answer>5</answer> x </answer>", "5"),  # then up to the FIRST following </answer>
    ("<answer>\n12 and no close", "12 and no close"),  # unclosed tag: everything after it
    ("  The answer is 18.  ", "The answer is 18."),  # no tag: the whole stripped text
    ("", ""),  # empty completion: empty string, never None
])
def test_extract_xml_answer(text, expected):
    assert extract_xml_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("9 * 2 = 18\n#### 18", "18"),  # the GSM8K shape
    ("Total: 1000\n#### 1,000", "1,000"),  # commas kept, as the recipe does
    ("#### $5 ", "$5"),  # dollar kept, whitespace stripped
    ("no marker here", None),  # no #### -> no gold
    ("a #### 1 #### 2", "1"),  # split("####")[1]: text between the first and second marker
])
def test_extract_hash_answer(text, expected):
    assert extract_hash_answer(text) == expected


# --- the five training rewards --------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (PERFECT, 0.5),  # four tags once each, nothing trailing: 4 * 0.125
    # Ends right at </answer> (len 48): "\n</answer>\n" absent -> 0.125 - 48*0.001 = 0.077;
    # "\n</answer>" leaves "" -> 0.125 - (0-1)*0.001 = 0.126; total 0.25 + 0.077 + 0.126 = 0.453.
    (PERFECT[:-1], 0.453),
    # 5 chars after "\n</answer>\n": -0.005; "\nextra" after "\n</answer>": -(6-1)*0.001 -> 0.49.
    (PERFECT + "extra", 0.49),
    ("The answer is 18", 0.0),  # no tags at all
    ("<reasoning>\n<reasoning>\nr\n</reasoning>\n", 0.125),  # "<reasoning>\n" twice earns nothing
    (ONE_LINE, 0.0),  # tags without their newlines are not counted
])
def test_xmlcount_reward(text, expected):
    assert xmlcount_reward(text) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("text, soft, strict", [
    (ONE_LINE, 0.5, 0.0),  # soft passes one-line content; strict wants the newlines
    (PERFECT, 0.0, 0.5),  # quirk: soft's '.' cannot cross the newline after <reasoning>
    (MULTILINE, 0.0, 0.0),  # multi-line reasoning fails both (no DOTALL)
    (" " + ONE_LINE, 0.0, 0.0),  # leading whitespace: re.match anchors at position 0
    ("\n" + PERFECT, 0.0, 0.0),  # a leading newline fails strict too
    (PERFECT[:-1], 0.0, 0.0),  # strict needs the final newline
    (PERFECT + "\n", 0.0, 0.5),  # quirk: '$' also matches before one extra trailing newline
    (PERFECT + "more", 0.0, 0.0),  # text after the answer block fails strict
    ("<reasoning>r</reasoning><answer>18</answer> trailing", 0.5, 0.0),  # soft ignores the tail
])
def test_notebook_format_rewards(text, soft, strict):
    assert (soft_format_reward(text), strict_format_reward(text)) == (soft, strict)


@pytest.mark.parametrize("answer, expected", [
    ("42", 0.5),  # plain digits
    ("-3", 0.0),  # the sign is not a digit
    ("2.5", 0.0),  # the point is not a digit
    ("1,000", 0.0),  # the comma is not a digit
    (" 7 ", 0.5),  # stripped before the check
    ("²", 0.5),  # quirk of str.isdigit: a superscript two counts as a digit
])
def test_int_reward(answer, expected):
    assert int_reward(f"<reasoning>\nr\n</reasoning>\n<answer>\n{answer}\n</answer>\n") == expected


def test_int_reward_without_tags_checks_the_whole_text():
    # No <answer> tag: the whole stripped completion is the "answer", so a bare "42" scores.
    assert int_reward("  42\n") == 0.5


@pytest.mark.parametrize("completion, gold, expected", [
    (PERFECT, "18", 2.0),  # exact match
    (PERFECT.replace("18", "18.0"), "18", 0.0),  # exact string: 18.0 != 18
    (PERFECT.replace("18", "1000"), "1,000", 0.0),  # GSM8K's comma gold never matches 1000
    (PERFECT.replace("18", "$18"), "18", 0.0),  # a currency sign breaks the match
    ("18", "18", 2.0),  # no tags: the whole text equals the gold
    (PERFECT, None, 0.0),  # no gold, no reward
])
def test_correctness_reward(completion, gold, expected):
    assert correctness_reward(completion, gold) == expected


@pytest.mark.parametrize("completion", [PERFECT, PERFECT[:-1], MULTILINE, ONE_LINE, " " + ONE_LINE])
def test_notebook_rewards_are_the_five_functions_in_trainer_order(completion):
    # The dict is the single functions' values, keyed in the trainer's order.
    rewards = notebook_rewards(completion, "18")
    assert tuple(rewards) == NOTEBOOK_REWARDS
    assert list(rewards.values()) == [
        xmlcount_reward(completion), soft_format_reward(completion),
        strict_format_reward(completion), int_reward(completion),
        correctness_reward(completion, "18"),
    ]


# --- evaluation extraction cascade ---------------------------------------------------------------

@pytest.mark.parametrize("text, answer, extractor", [
    (PERFECT, "18", "answer_tag"),  # the XML tag comes first
    ("<answer>\n\n</answer> so \\boxed{7}", "7", "boxed"),  # empty tag falls through
    ("<answer>3</answer> but \\boxed{7}", "3", "answer_tag"),  # the tag beats a box
    ("thus \\boxed{\\frac{1}{\\sqrt{2}}}.", "\\frac{1}{\\sqrt{2}}", "boxed"),  # nested braces
    ("\\boxed{1} no wait \\boxed{2}", "2", "boxed"),  # the last box wins
    ("\\boxed{3 and 7", "7", "last_number"),  # an unclosed box is skipped
    ("9*2 = 18\n#### 18\nDone.", "18", "hash"),  # hash: only the rest of that line
    ("#### 1\nredo\n#### 2", "2", "hash"),  # the last #### wins
    ("costs 1,000 dollars, or 1,250 with tax", "1250", "last_number"),  # thousands commas
    ("the change is -3.", "-3", "last_number"),  # sign kept, sentence period dropped
    ("from 12 to -4.75 degrees", "-4.75", "last_number"),  # negative decimal
    ("5-3=2", "2", "last_number"),  # a minus between operands is not a sign
    ("values 3,4", "4", "last_number"),  # "3,4" is not a thousands group
    ("I don't know.", None, "none"),  # nothing to extract
    ("", None, "none"),  # empty completion
])
def test_extract_answer(text, answer, extractor):
    assert extract_answer(text) == (answer, extractor)


@pytest.mark.parametrize("text, answer, extractor", [
    # A final-answer statement is the answer, whatever numbers come before it.
    ("There are 9 terms, so the answer is $\\frac{10}{9}$.", "\\frac{10}{9}", "final_answer"),
    ("The final answer is $\\frac{2}{5}$. I hope it is correct.", "\\frac{2}{5}", "final_answer"),
    ("Choice 3 fails.\nAnswer: (B)", "(B)", "final_answer"),  # a stray 3 before the label
    ("Option B gives 3 apples.\n\n**Answer:** B", "B", "final_answer"),  # a bold label
    ("The answer to part (a) is 5.", "5", "final_answer"),  # "answer to ... is"
    ("The final answer is:\n\n\\[\n\\boxed{143}\n\\]\n", "143", "final_answer"),  # on later lines
    ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "28 \\%",
     "final_answer"),  # the few-shot MATH format, anchor inside anchor
    ("We compute.\n\n# Answer\n\n" + VECTOR, VECTOR, "answer_heading"),  # an "Answer" heading
    ("**Final Answer**\n\\boxed{143}", "143", "answer_heading"),  # a bold heading over a box
    ('Work: 5 of 12.\n{"answer": "5/12"}', "5/12", "json_answer"),  # a JSON answer field
    # The last number only when nothing states an answer, and not when the text says it is none.
    ("Trying n = 1, 2, 3 shows it never stops, so there are infinitely many.", None, "none"),
    ("It could be 3, 4 or 5.", None, "none"),  # a hedge
    ("It is between 4 and 6.", None, "none"),  # a range
    ("First 3 * 5 = 15, and then the", None, "none"),  # cut off mid-sentence
    ("Then 32768 feet * 2 =", None, "none"),  # cut off after "="
    ("So the answer is 20 cars. 5 cars passed in the first 15 minutes.", "20 cars",
     "final_answer"),  # a number restated after the answer
    ("P(A) = (1/2) * (4/3) = 2/3, so Alice wins with probability 2/3.", "2/3",
     "last_number"),  # a trailing fraction, not its denominator
    ("So the ordered pair that solves the system is $(7, 6)$.", "(7, 6)",
     "last_number"),  # the last math, not its last number
    ("The answer is 18.\n\nQuestion: A robe takes 2 bolts. The answer is 3.", "18",
     "final_answer"),  # the model ran on into a new question
    ("```python\nanswer = eggs - 3\nprint(answer)\n```\nOutput: 18", "18",
     "last_number"),  # "answer =" in code states nothing
    # The last statement wins, a box being one: a model that corrects itself means the correction.
    ("So x = \\boxed{12}. Then y = 12 - 58, so the answer is $-46$.", "-46", "final_answer"),
    ("The answer is 5.\n\nWait, recount: $\\boxed{6}$.", "6", "boxed"),
    ("The answer is $\\boxed{7}$.", "7", "final_answer"),  # a box inside a statement is that one
    ("Let's check whether our answer is correct: 5 + 7 = 12. \\boxed{12}", "12", "boxed"),
    ("\\boxed{5}. This answer is reasonable.", "5", "boxed"),  # "answer is reasonable" is none
    ("\\boxed{5}\n#### Step 2: add 3 and 4", "5", "boxed"),  # a markdown heading, no #### answer
    # Boxes joined only by connectives are one answer, the set of their contents.
    ("The solutions are $\\boxed{(2,2)}$ and $\\boxed{(6,2)}$.", "(2,2), (6,2)", "boxed"),
    ("$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$", "(3, 3), (1, 1)", "boxed"),
    ("\\boxed{1},\\boxed{2},\\boxed{3}", "1, 2, 3", "boxed"),
    # A completion that is nothing but an answer is that answer.
    ("$(3, 2)$", "(3, 2)", "bare_answer"),
    ("B", "B", "bare_answer"),
    ("42", "42", "bare_answer"),
    # Inside the answer tag, a statement still names the answer.
    ("<answer>\nThe answer is \\boxed{7}\n</answer>", "7", "answer_tag"),
])
def test_extract_stated_answer(text, answer, extractor):
    assert extract_answer(text) == (answer, extractor)


@pytest.mark.parametrize("text, answer, extractor", [
    # A number is read whole: with the unicode math glued to it, as a time, as a date.
    ("So x = 25√2/2", "25√2/2", "last_number"),  # not 2/2
    ("Diagonal: √(6² + 4²) = √52 = 2√13", "2√13", "last_number"),  # the last piece of the chain
    ("The area is 4π cm².", "4π", "last_number"),  # not 4; the unit stays outside
    ("(about 25√2).", "25√2", "last_number"),  # the bracket closes the prose
    ("She leaves at 2:10.", "2:10", "last_number"),  # not 10
    ("Jordan can start at 3:00 pm.", "3:00 pm", "last_number"),  # not 00
    ("The date is 10/12/2023.", "10/12/2023", "last_number"),  # not 2023
    # A number that names a thing is not the answer when its sentence states another.
    ("So 6 people think horse #12 will win.", "6", "last_number"),
    ("It took 45 seconds for horse #12.", "45", "last_number"),
    ("In step 2 we get 18.", "18", "last_number"),
    ("The winner is horse #12.", "12", "last_number"),  # nothing else to state: the label stays
    ("Sara has 26 books.\n#### 26", "26", "hash"),  # "####" is an answer line, not a label
    # A loop run to the length limit states nothing, whatever number it repeats.
    ("so Ava has 0, " * 20, None, "none"),
    ("The total is 5." + "\n" * 60, None, "none"),  # newline after newline
    ("x = 0." + "3" * 60, None, "none"),  # digits long past any precision
    ("x = 0.3333333333333333", "0.3333333333333333", "last_number"),  # a float's 16 digits
    ("The answer is 26.\n" * 10, "26", "final_answer"),  # a loop that states an answer keeps it
])
def test_extract_reads_numbers_whole(text, answer, extractor):
    assert extract_answer(text) == (answer, extractor)


STATED = ("final_answer", "answer_heading", "json_answer", "boxed", "hash")


@pytest.mark.parametrize("gold, completion, correct, extractor",
                         [c for c in MATH_VERIFY + GSM8K_MODEL_SOLUTIONS if c[3] in STATED])
def test_a_later_number_never_overrides_a_stated_answer(gold, completion, correct, extractor):
    # "last_number" marks exactly the verdicts resting on the fallback: a number written after
    # a stated answer changes neither the answer nor the rule.
    before = extract_answer(completion)
    after = extract_answer(completion + "\n\nThat took 3 steps and 45 seconds.")
    assert after == before and before[1] == extractor


def test_extraction_stays_fast_on_pathological_text():
    # Extraction runs outside math-verify's time limit, so it must be linear-ish itself.
    texts = ["$$ 1 " * 5000, "\\boxed{ 1 " * 3000, "the answer is " * 5000,
             "answer: " + " " * 50000 + "x", "{" * 20000 + "\\boxed{1}", "# Answer\n" * 5000,
             "\\boxed{1}" + " and " * 10000 + "\\boxed{2}", "$5$" + " " * 50000 + "x"]
    for text in texts:
        start = time.perf_counter()
        extract_answer(text)
        assert time.perf_counter() - start < 2.0, text[:20]


# --- math-verify grading --------------------------------------------------------------------------

@pytest.mark.parametrize("gold, answer, expected", [
    ("18", "18", True),  # identical numbers
    ("18", "18.0", True),  # equal value, different string (notebook correctness says 0)
    ("18", "19", False),  # a wrong number
    ("1,000", "1000", True),  # GSM8K comma gold
    ("1000", "1,000", True),  # comma answer
    ("18", "$18", True),  # currency sign in the answer
    ("18", "18 dollars", True),  # unit words do not become symbols
    ("-3", "-3.0", True),  # negative decimal
    ("\\frac{1}{2}", "0.5", True),  # LaTeX fraction vs decimal
    ("\\frac{1}{2}", "\\frac{2}{4}", True),  # unreduced fraction
    ("\\frac{14}{3}", "14/3", True),  # plain-text fraction
    ("\\frac{14}{3}", "4.6667", False),  # a rounded decimal is not equal
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", True),  # tuple, \left \right
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi)", False),  # tuple with a wrong entry
    ("1,-2", "-2, 1", True),  # comma list is a set: order does not matter
    ("3, 5, 7", "3, 5", False),  # a missing element
    ("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}", True),  # \pm expands to a set
    ("p - q", "-q + p", True),  # symbolic equality
    ("p - q", "q - p", False),  # symbolic inequality
    ("90^\\circ", "90", True),  # degrees dropped
    ("\\text{(C)}", "C", True),  # multiple choice letter
    ("\\text{(C)}", "D", False),  # wrong letter
    ("18", "\\boxed{18}", True),  # a box inside the answer
    ("\\$18.90", "18.9", True),  # escaped dollar in the gold is currency, not a delimiter
    (VECTOR, VECTOR, True),  # a matrix answer is LaTeX, not prose ("pmatrix" is no word)
    (VECTOR, "-7", False),  # one entry is not the vector
    ("18", None, False),  # nothing extracted is wrong, not ungraded
    ("18", "", False),  # empty answer is wrong
    ("18", "1" * 1001, False),  # over MAX_ANSWER_CHARS: not parsed, wrong
    (None, "3", None),  # no gold: ungraded
    ("", "3", None),  # blank gold: ungraded
    ("\\frac{", "3", None),  # unparseable gold: ungraded, never "wrong"
    ("???", None, None),  # unparseable gold wins over a missing answer
])
def test_grade(gold, answer, expected):
    assert grade(gold, answer) is expected


@pytest.mark.parametrize("gold, answer, expected", [
    # A decimal percent reads like an integer one: 35.0% equals 35 as 35% does.
    ("35", "35.0\\%", True),
    ("35", "35\\%", True),
    ("35", "35.0%", True),
    ("12.5", "12.5\\%", True),
    ("0.35", "35.0\\%", True),  # and still equals its fraction
    ("35", "0.35\\%", False),
    # Letters and words compare as text, not as products of symbols.
    ("LXQS", "LQSX", False),  # as math, L*X*Q*S == L*Q*S*X
    ("LXQS", "lxqs", True),
    ("\\text{Evelyn}", "evelyn", True),
    ("\\text{Evelyn}", "Navin", False),
    ("\\text{east}", "\\text{East}", True),
    ("\\text{(B)}", "(B) 15", True),  # a choice letter with its option's value
    ("\\text{(B)}", "option B", True),
    ("\\text{(B)}", "A, B", False),  # two choices are no answer
    ("A,B,E", "\\text{A, B, E}", True),
    ("\\text{A, B, E}", "A,B,E", True),
    ("A,B,E", "E, B, A", True),  # a list of choices is a set
    ("A,B,E", "A, B", False),
    ("xy", "yx", True),  # lower-case letters without \text stay algebra
    # A complex number written two ways: i is the imaginary unit wherever it stands.
    ("\\frac{-3+4i}{5}", "-\\frac35+\\frac45 i", True),
    ("-\\frac35+\\frac45 i", "\\frac{-3+4i}{5}", True),
    ("\\frac{3}{4}i", "\\frac{3i}{4}", True),
    ("1+i", "\\frac{2}{1-i}", True),  # i*i = -1
    ("1+i", "1-i", False),
    # Alternatives are a set: a hedge does not equal one of its values.
    ("5", "3, 4 or 5", False),
    ("1,-2", "1 or -2", True),
])
def test_grade_equivalent_forms(gold, answer, expected):
    assert grade(gold, answer) is expected


@pytest.mark.parametrize("gold, answer, expected", [
    # Unicode math is read as written: no symbol dropped.
    ("25", "25√2/2", False),  # math-verify alone drops the root and reads 25
    ("\\frac{25\\sqrt{2}}{2}", "25√2/2", True),  # √2 is \sqrt{2}
    ("2\\sqrt{13}", "√(6² + 4²)", True),  # a bracketed operand, superscripts
    ("4\\pi", "4π", True),  # π is \pi
    ("4", "4π", False),  # not 4 with the π dropped
    ("4\\pi", "4π cm²", True),  # a unit with a power stays a unit
    ("12", "3×4", True),  # × is \times
    ("-5", "−5", True),  # U+2212 minus
    ("0.75", "3÷4", True),  # ÷ is \div
    ("x^2+1", "x²+1", True),  # a superscript is a power
    ("x^2+1", "x²", False),  # and x² is not x
    ("3.5", "3½", True),  # a mixed number
    ("\\frac{1}{2}", "½", True),  # a vulgar fraction
    ("2", "∛8", True),  # a cube root
    ("2\\pi r", "2πr", True),  # π glued to a variable
    ("\\theta", "θ", True),  # a Greek letter is its LaTeX name
    ("39", "39°F", True),  # degrees, the scale a unit
    ("5", "∑5", None),  # a symbol with no reading: ungraded, not a truncated 5
    # A time of day or a date is read whole, never as the number before its colon or slash.
    ("2", "2:10 pm", False),  # math-verify alone reads 2
    ("2", "2:10", False),  # with no am/pm as well
    ("2", "2:00 pm", True),  # GSM8K writes "2 pm" as 2
    ("2", "2 pm", True),  # on the hour without minutes
    ("14:10", "2:10 pm", True),  # a 24-hour clock against am/pm
    ("14:10", "2:10 am", False),  # the wrong half of the day
    ("10", "10/12/2023", False),  # a date is no number
    ("10/12/2023", "10/12/2023", True),  # the same date
    ("10/12/2023", "10/12/2024", False),  # another year
    ("\\frac{1}{5}", "2:10", True),  # against a fraction gold, "2:10" is the ratio
    # A prose value: the number a label names is not the answer.
    ("7", "the answer to question 3 is 7", True),  # math-verify alone reads 3
    ("45", "horse #12 finished in 45 seconds", True),  # the quantity, not the horse
])
def test_grade_reads_answers_whole(gold, answer, expected):
    assert grade(gold, answer) is expected


def test_math500_golds_parse_and_grade_against_themselves():
    lines = _shared("math500_test.jsonl").open(encoding="utf-8")
    results = {g: grade(g, g) for g in (json.loads(line)["answer"] for line in lines)}
    # All 500 golds parse with math-verify 0.9.0 (a tolerance here once hid "\\$36" failing),
    # and each one equals itself (this caught matrices being read as their last entry).
    assert [g for g, ok in results.items() if ok is None] == []
    assert [g for g, ok in results.items() if ok is False] == []


# The same reasoning with its answer written the three ways a model writes it.
STYLES = {
    "tags": "<reasoning>\nFirst 3 + 4 = 7.\n</reasoning>\n<answer>\n{answer}\n</answer>\n",
    "boxed": "First 3 + 4 = 7, then more steps.\n\nThus the result is $\\boxed{{{answer}}}$.",
    "prose": "First 3 + 4 = 7, then more steps.\n\nThe final answer is ${answer}$. I hope it is "
             "correct.",
}


@pytest.mark.parametrize("gold, answer", [
    ("18", "18"), ("18", "19"), ("1,000", "1000"), ("\\frac{1}{2}", "0.5"),
    ("\\frac{10}{9}", "\\frac{9}{10}"), ("35", "35.0\\%"), ("LXQS", "LQSX"),
    ("\\text{(C)}", "\\text{(C)}"), ("(2, 2), (6, 2)", "(6, 2), (2, 2)"), (VECTOR, "-7"),
])
def test_answer_styles_agree(gold, answer):
    verdicts = {name: score(style.format(answer=answer), gold).correct
                for name, style in STYLES.items()}
    assert len(set(verdicts.values())) == 1, verdicts


def test_math500_golds_grade_correct_in_every_answer_style():
    lines = _shared("math500_test.jsonl").open(encoding="utf-8")
    golds = [json.loads(line)["answer"] for line in lines]
    for name, style in STYLES.items():
        wrong = [g for g in golds if score(style.format(answer=g), g).correct is not True]
        assert wrong == [], name


def test_math500_reference_solutions_grade_correct():
    # Each MATH-500 solution is a worked text ending in a box (sometimes several); graded as a
    # completion it must match its own gold.
    rows = [json.loads(line) for line in _shared("math500_test.jsonl").open(encoding="utf-8")]
    wrong = [r["unique_id"] for r in rows if score(r["solution"], r["answer"]).correct is not True]
    assert wrong == []


def test_gsm8k_comma_golds_grade_against_plain_numbers():
    golds = [extract_hash_answer(json.loads(line)["answer"])
             for line in _shared("gsm8k_test.jsonl").open(encoding="utf-8")]
    commas = [g for g in golds if g and "," in g]
    assert commas  # the real split has comma golds such as "1,450,000"
    assert all(grade(g, g.replace(",", "")) for g in commas)


def test_grade_works_from_worker_threads():
    # Grades run in worker processes, so threads need no signal.alarm: none fails.
    cases = [("\\frac{1}{2}", "0.5", True), ("18", "19", False), ("\\frac{", "1", None)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda c: grade(c[0], c[1]), cases))
    assert got == [c[2] for c in cases]


def test_math_verify_timeouts_really_fail_off_the_main_thread():
    # One reason grade does not use math-verify's own timeout: it raises in a worker thread.
    from math_verify import parse

    errors: list[BaseException] = []

    def run() -> None:
        try:
            parse("$1$", parsing_timeout=5)
        except ValueError as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert len(errors) == 1 and "thread" in str(errors[0])


def _timed_grade(answer: str) -> tuple[bool | None, float]:
    start = time.monotonic()
    verdict = grade("\\frac{5}{16}", answer)
    return verdict, time.monotonic() - start


def test_a_grade_that_never_ends_is_ungraded_within_the_limit():
    # Math-Verify issue #65: parse() runs for ever inside C, where math-verify's signal.alarm
    # cannot reach; the grade's worker process is killed on time instead.
    assert grade("1", "1") is True  # a worker is ready: its start is not part of a grade
    verdict, seconds = _timed_grade(SLOW_SYMPY)
    assert verdict is None and seconds <= GRADE_TIMEOUT_S
    assert score(SLOW_SYMPY, "\\frac{5}{16}").correct is None  # ungraded, never wrong
    assert grade("\\frac{1}{2}", "0.5") is True  # the next grade gets a fresh worker


def test_a_grade_that_never_ends_is_ungraded_within_the_limit_off_the_main_thread():
    # The limit needs no signal: it holds in a worker thread as in the main one.
    assert grade("1", "1") is True
    with ThreadPoolExecutor(max_workers=1) as pool:
        verdict, seconds = pool.submit(_timed_grade, SLOW_SYMPY).result()
    assert verdict is None and seconds <= GRADE_TIMEOUT_S


# --- score: everything together -------------------------------------------------------------------

def test_score_perfect_completion():
    # Canonical format, right answer: every check passes except the notebook soft-format quirk.
    s = score(PERFECT, "18")
    assert (s.answer, s.extractor, s.correct) == ("18", "answer_tag", True)
    assert (s.strict_format, s.soft_format) == (True, True)
    assert s.rewards == {
        "xmlcount": 0.5, "soft_format": 0.0, "strict_format": 0.5, "int": 0.5, "correctness": 2.0,
        "soft_format_dotall": 0.5, "strict_format_dotall": 0.5, "correctness_math": 2.0,
    }


@pytest.mark.parametrize("completion, gold, field, expected", [
    (MULTILINE, "18", "soft_format", (0.0, 0.5)),  # notebook fails multi-line, DOTALL passes
    (MULTILINE, "18", "strict_format", (0.0, 0.5)),  # same for strict
    ("  " + PERFECT, "18", "soft_format", (0.0, 0.5)),  # corrected soft forgives leading spaces
    ("  " + PERFECT, "18", "strict_format", (0.0, 0.0)),  # corrected strict stays anchored
    (PERFECT.replace("18", "18.0"), "18", "correctness", (0.0, 2.0)),  # string vs math
    (PERFECT.replace("18", "1000"), "1,000", "correctness", (0.0, 2.0)),  # comma gold
])
def test_score_reports_notebook_and_corrected_side_by_side(completion, gold, field, expected):
    corrected = {"soft_format": "soft_format_dotall", "strict_format": "strict_format_dotall",
                 "correctness": "correctness_math"}[field]
    s = score(completion, gold)
    assert (s.rewards[field], s.rewards[corrected]) == expected
    if field != "correctness":  # the Score booleans are the corrected checks
        assert getattr(s, field) is (expected[1] > 0)


def test_score_without_gold_is_ungraded_not_wrong():
    # gold=None: correct is None and neither correctness reward is paid.
    s = score(PERFECT, None)
    assert s.correct is None
    assert (s.rewards["correctness"], s.rewards["correctness_math"]) == (0.0, 0.0)


def test_score_falls_back_to_last_number_for_untagged_output():
    # A base-model style answer: no tags, graded by the last number; format rewards are zero.
    s = score("She sells 9 eggs at $2, so she makes 18 dollars.", "18")
    assert (s.answer, s.extractor, s.correct) == ("18", "last_number", True)
    assert (s.strict_format, s.soft_format, s.rewards["xmlcount"]) == (False, False, 0.0)


# --- regression table: real model outputs (tests/scoring_cases.py) --------------------------------

@pytest.mark.parametrize("gold, completion, correct, extractor",
                         MATH_VERIFY + GSM8K_MODEL_SOLUTIONS)
def test_real_model_outputs(gold, completion, correct, extractor):
    s = score(completion, gold)
    assert (s.correct, s.extractor) == (correct, extractor), s.answer


@pytest.mark.parametrize("gold, completion, correct, extractor, answer",
                         ZERO_SHOT_COT + DEFAULT_RUN)
def test_real_model_outputs_are_read_whole(gold, completion, correct, extractor, answer):
    s = score(completion, gold)
    assert (s.correct, s.extractor, s.answer) == (correct, extractor, answer)
