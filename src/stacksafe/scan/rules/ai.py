"""AI model providers' API keys: OpenAI, Anthropic, Hugging Face, Cohere, Groq, Perplexity, xAI,
DeepSeek, Together, Tavily, Replicate, Mistral, Private AI, LlamaCloud, OpenRouter,
LangSmith.

Most carry a prefix of their own (``sk-ant-api03-``, ``hf_``, ``gsk_``, ``pplx-``, ``xai-``,
``r8_``, ``tgp_v1_``, ``tvly-``, ``llx-``, ``sk-or-v1-``, ``lsv2_pt_``). OpenAI's keys embed
``T3BlbkFJ`` (base64 of "OpenAI") between two random halves, a far better anchor than their
``sk-`` prefix. DeepSeek's are ``sk-`` and 32 hex digits; Cohere, Mistral and Private AI keys
are known by the service's name.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

RULES: tuple[Rule, ...] = (
    token(
        "openai-api-key",
        "OpenAI API key",
        ("t3blbkfj",),
        r"sk-[A-Za-z0-9_-]{16,160}T3BlbkFJ[A-Za-z0-9_-]{16,160}",
        min_entropy=3.5,
    ),
    token(
        "anthropic-api-key",
        "Anthropic API key",
        ("sk-ant-api0",),
        r"sk-ant-api0[0-9]-[A-Za-z0-9_-]{64,128}",
        min_entropy=3.5,
    ),
    token(
        "anthropic-admin-api-key",
        "Anthropic admin API key",
        ("sk-ant-admin0",),
        r"sk-ant-admin0[0-9]-[A-Za-z0-9_-]{64,128}",
        min_entropy=3.5,
    ),
    token(
        "huggingface-access-token",
        "Hugging Face access token",
        ("hf_",),
        r"hf_[A-Za-z]{34}",
        min_entropy=3.5,
    ),
    token(
        "huggingface-organization-api-token",
        "Hugging Face organization API token",
        ("api_org_",),
        r"api_org_[A-Za-z]{34}",
        min_entropy=3.5,
    ),
    keyed(
        "cohere-api-key",
        "Cohere API key",
        ("cohere", "co_api_key"),
        r"[A-Za-z0-9]{40}",
        min_entropy=4.0,
    ),
    token(
        "groq-api-key",
        "Groq API key",
        ("gsk_",),
        r"gsk_[A-Za-z0-9]{48,56}",
        min_entropy=3.5,
    ),
    token(
        "perplexity-api-key",
        "Perplexity API key",
        ("pplx-",),
        r"pplx-[A-Za-z0-9]{48}",
        min_entropy=3.5,
    ),
    token("xai-api-key", "xAI API key", ("xai-",), r"xai-[A-Za-z0-9]{80}", min_entropy=3.5),
    token(
        "deepseek-api-key",
        "DeepSeek API key",
        ("sk-",),
        r"sk-[0-9a-f]{32}",
        min_entropy=3.3,
    ),
    token(
        "together-api-key",
        "Together AI API key",
        ("tgp_v1_",),
        r"tgp_v1_[A-Za-z0-9_-]{43}",
        min_entropy=3.5,
    ),
    token(
        "tavily-api-key",
        "Tavily API key",
        ("tvly-",),
        r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}",
        min_entropy=3.5,
    ),
    token(
        "replicate-api-token",
        "Replicate API token",
        ("r8_",),
        r"r8_[A-Za-z0-9]{37}",
        min_entropy=3.5,
    ),
    token(
        "llamacloud-api-key",
        "LlamaCloud API key",
        ("llx-",),
        r"llx-[A-Za-z0-9_-]{48}",
        min_entropy=3.5,
    ),
    token(
        "openrouter-api-key",
        "OpenRouter API key",
        ("sk-or-v1-",),
        r"sk-or-v1-[a-f0-9]{64}",
        min_entropy=3.0,
    ),
    token(
        "langsmith-api-key",
        "LangSmith API key",
        ("lsv2_pt_", "lsv2_sk_"),
        r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}",
        min_entropy=3.0,
    ),
    keyed(
        "mistral-api-key",
        "Mistral AI API key",
        ("mistral",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.5,
    ),
    keyed(
        "privateai-api-token",
        "Private AI API key",
        ("privateai", "private_ai", "private-ai"),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
)
