"""govsvc tutorial plugin: 示例县民政局 (a made-up county civil affairs bureau)."""
