"""Prompts: the XML chain-of-thought system prompt, the rendering of a problem for an arm, and the
requests built from it (the token ids, one seed per problem, prompts too long for the context
window skipped and named).

The rendered text (chat template applied) is what the engine sees and is kept in the results:
some chat templates add a default system prompt when none is given, and that should be visible.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, Callable, Sequence

from rich.markup import escape

from .errors import UserError
from .types import Arm, Problem, Request
from .ui import err

# No tokenizer's tokens average more characters than this over a text: a longer question cannot fit
# the context window and is skipped before it is tokenised (a 50 MB question would take minutes).
MAX_CHARS_PER_TOKEN = 64

# The training prompt of the unsloth GRPO notebooks, byte for byte (leading and trailing newline).
XML_COT = (
    "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>\n"
)
PROMPTS = {"xml_cot": XML_COT}  # named system prompts a config may refer to


def prompt_text(value: str | None) -> str | None:
    """A named prompt's text, or `value` itself when it is literal text.

    A bare lower-case word is taken as a name, so a misspelt one fails instead of reaching the
    model as the literal system prompt "xml_cott".

    >>> prompt_text("xml_cot").startswith("\\nRespond"), prompt_text("You are terse.")
    (True, 'You are terse.')
    """
    if value is None or value in PROMPTS:
        return PROMPTS.get(value) if value else None
    if re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise UserError(f"unknown named system prompt '{value}': the names are {', '.join(PROMPTS)}; "
                        "literal prompt text needs more than one word")
    return value


def messages(arm: Arm, question: str) -> list[dict[str, str]]:
    """Chat messages for one arm: `[user]`, or `[system, user]` when the arm has a system prompt.

    >>> messages(Arm("base"), "1+1?")
    [{'role': 'user', 'content': '1+1?'}]
    """
    msgs = [{"role": "system", "content": arm.system_prompt}] if arm.system_prompt else []
    return msgs + [{"role": "user", "content": question}]


def render(tokenizer: Any, arm: Arm, question: str) -> str:
    """The prompt text the model sees: the chat template applied, generation prompt appended."""
    return tokenizer.apply_chat_template(
        messages(arm, question), tokenize=False, add_generation_prompt=True
    )


def load_tokenizer(model: str) -> Any:
    """The model's tokenizer, which must carry a chat template."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise UserError(f"could not load the tokenizer of '{model}': {str(e).splitlines()[0]}") from None
    return checked_tokenizer(tok, model)


def checked_tokenizer(tok: Any, model: str) -> Any:
    if not getattr(tok, "chat_template", None):
        raise UserError(f"'{model}' has no chat template: use an instruct/chat model, or add a chat_template")
    return tok


def build_requests(problems: Sequence[Problem], arms: Sequence[Arm], tokenizer: Any, seed: int, max_model_len: int,
                   num_samples: int = 1, text: Callable[[str, Arm], str] | None = None
                   ) -> tuple[list[Request], list[str]]:
    """Each problem rendered for each arm, arms of one problem adjacent; prompts too long for the
    context window are skipped (and named). Sample s of a problem has the same seed in every arm."""
    text = text or (lambda question, arm: render(tokenizer, arm, question))
    requests, skipped = [], []
    for p in problems:
        if len(p.question) > max_model_len * MAX_CHARS_PER_TOKEN:  # never tokenised: it cannot fit
            err.print(f"[yellow]skipped problem {escape(p.id)}: its question has {len(p.question):,} characters, more than "
                      f"a context window of {max_model_len} tokens holds (at most {max_model_len * MAX_CHARS_PER_TOKEN:,}; "
                      "raise --max-model-len)[/]", highlight=False)
            skipped.append(p.id)
            continue
        rows = []
        for arm in arms:
            prompt = text(p.question, arm)
            rows.append((arm, prompt, tuple(tokenizer(prompt, add_special_tokens=False).input_ids)))
        longest = max(len(ids) for _, _, ids in rows)
        if longest >= max_model_len:
            err.print(f"[yellow]skipped problem {escape(p.id)}: its prompt has {longest} tokens, "
                          f"the context window {max_model_len} (raise --max-model-len)[/]", highlight=False)
            skipped.append(p.id)
            continue
        requests += [Request(p, arm, prompt, ids, problem_seed(seed, p.id, s), s)
                     for s in range(num_samples) for arm, prompt, ids in rows]
    return requests, skipped


def problem_seed(base_seed: int, problem_id: str, sample: int = 0) -> int:
    """One seed per problem (and sample), the same in every arm, stable across runs and batches."""
    return zlib.crc32(f"{base_seed}:{problem_id}:{sample}".encode()) & 0x7FFFFFFF
