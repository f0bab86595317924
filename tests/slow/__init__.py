"""Long tests: benchmark smoke runs, the crash loop, the LiteLLM proxy."""
