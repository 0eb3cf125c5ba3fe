"""A local feed server with bundled sample feeds, so the pipeline can be watched without internet."""
