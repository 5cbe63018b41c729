"""AI providers' rules: real-format API keys found, typed fakes and lookalikes not."""

from __future__ import annotations

from stacksafe.scan.rules import ai
from tests.scan.rules.fakes import Fakes, assert_found, family_tests

F = Fakes(606)

CASES = [
    (
        "openai-api-key",
        f"sk-proj-{F.b64url(74)}T3BlbkFJ{F.b64url(74)}",
        "OPENAI_API_KEY={}",
    ),
    ("anthropic-api-key", f"sk-ant-api03-{F.b64url(93)}AA", 'Anthropic(api_key="{}")'),
    ("anthropic-admin-api-key", f"sk-ant-admin01-{F.b64url(93)}AA", "ADMIN_KEY={}"),
    ("huggingface-access-token", "hf_" + F.letters(34), "HF_TOKEN={}"),
    ("huggingface-organization-api-token", "api_org_" + F.letters(34), "org: {}"),
    ("cohere-api-key", F.alnum(40), "CO_API_KEY={}"),
    ("groq-api-key", "gsk_" + F.alnum(52), "GROQ_API_KEY={}"),
    ("perplexity-api-key", "pplx-" + F.alnum(48), "PPLX={}"),
    ("xai-api-key", "xai-" + F.alnum(80), "XAI_API_KEY={}"),
    ("deepseek-api-key", "sk-" + F.hex(32), "DEEPSEEK_API_KEY={}"),
    ("together-api-key", "tgp_v1_" + F.b64url(43), "TOGETHER_API_KEY={}"),
    ("tavily-api-key", "tvly-" + F.alnum(32), "TAVILY_API_KEY={}"),
    ("replicate-api-token", "r8_" + F.alnum(37), "REPLICATE_API_TOKEN={}"),
    ("llamacloud-api-key", "llx-" + F.b64url(48), "LLAMA_CLOUD_API_KEY={}"),
    ("openrouter-api-key", "sk-or-v1-" + F.hex(64), "OPENROUTER_API_KEY={}"),
    ("langsmith-api-key", f"lsv2_pt_{F.hex(32)}_{F.hex(10)}", "LANGSMITH_API_KEY={}"),
    ("mistral-api-key", F.alnum(32), "MISTRAL_API_KEY={}"),
    ("privateai-api-token", F.lower(32), "private_ai_key: {}"),
]


def test_found_after_a_terminal_colour_code() -> None:
    secret = "sk-" + F.hex(32)
    assert_found(ai.RULES, f">>>\x1b[93m{secret}\x1b[0m<<<", "deepseek-api-key", secret)


LOOKALIKES = [
    "sk-proj-Xi8tdMjHV6pmbBbwilTeT4BlbkFJ3UDnpdEwNNm6wVBpYM0o",
    # Masks (typed bodies are reported: test_services.py).
    "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "hf_UdYjVqYvybBLEhIrwwEUYjOgkeyexample",
    # A key inside a longer word is not a key.
    "mask-" + F.hex(32),
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    ai.RULES, CASES, LOOKALIKES
)
