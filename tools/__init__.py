"""Development tools: code the project's commands use that the product
itself never imports (the demo registry generator)."""
