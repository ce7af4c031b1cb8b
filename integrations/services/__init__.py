"""Writing integrations data: the network, tokens, intake and rejections."""
