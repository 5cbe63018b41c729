"""Core capabilities: every face (CLI, API, web) calls these, so each rule lives once."""
