"""The `classify` stage: `news.raw` scored by the model into `news.classified`."""
