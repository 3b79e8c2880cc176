"""Build tools: the Lambda deployment packages (imports the core, nothing of local/)."""
