"""Adapters for agent frameworks; each lives in its own module and imports its framework.

* ``signoff.integrations.langgraph``: LangChain ``create_agent`` middleware and a LangGraph tool node
  (``pip install 'signoff[langgraph]'``)
* ``signoff.integrations.openai_agents``: OpenAI Agents SDK (``pip install 'signoff[openai-agents]'``)
* ``signoff.integrations.pydantic_ai``: Pydantic AI toolsets (``pip install 'signoff[pydantic-ai]'``)
* ``signoff.integrations.mcp``: a gating MCP proxy, ``signoff mcp-proxy`` (``pip install 'signoff[mcp]'``)
* ``signoff.integrations.google_adk``: Google ADK tool confirmation, ``SignoffPlugin`` and
  ``signoff_confirmation`` (``pip install 'signoff[google-adk]'``)
* ``signoff.integrations.claude_code``: Claude Code's hooks, ``POST /api/v1/hooks/claude-code`` and
  ``signoff hook claude-code`` (no extra needed)

Nothing is imported here, so ``import signoff`` never needs a framework.
"""
