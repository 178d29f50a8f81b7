"""Prompts: the XML chain-of-thought system prompt and the rendering of a problem for an arm.

The rendered text (chat template applied) is what the engine sees and is kept in the results:
some chat templates add a default system prompt when none is given, and that should be visible.
"""

from __future__ import annotations

from typing import Any

from .types import Arm

# The training prompt of the unsloth GRPO notebooks, byte for byte (leading and trailing newline).
XML_COT = (
    "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>\n"
)
PROMPTS = {"xml_cot": XML_COT}  # named system prompts a config may refer to


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
