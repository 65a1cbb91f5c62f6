"""The PostgreSQL queue's consumers: the one consumer loop (claim, LISTEN and poll, back off
from outages, drain on stop) that every queue-reading worker runs, and the scoring worker
that claims jobs, scores them off the event loop, decides by policy and commits through the
stores, with its shadow models (``shadows``), scored after each batch is decided and never
deciding. The webhook deliverer (a layer above) runs the same loop."""
