"""Federated fine-tuning on Flower, with a contribution and cost ledger.

Layers, each usable alone:

- `config`: the `federation:` section of a run config;
- `exchange`, `aggregate`, `privacy`: what travels (trainable weights only), FedAvg/FedProx,
  update checks and clipping, client-side DP with epsilon accounting;
- `local` (a party's step, via the one training loop), `server` (rounds, checkpoint/resume),
  `inprocess` (the same rounds without a network, for tests);
- `flower_server`, `flower_client`, `launch`, `deploy`: the Flower ServerApp/ClientApp and the
  SuperLink/SuperNode processes (`cotune federate simulate|server|client`);
- `secagg`: a round under Flower's SecAgg+ (the server sees only the weighted mean);
- `shapley`, `ledger`, `report`, `finish`: contributions (Shapley, leave-one-out), costs, the
  final artifact and the ledger files.

Importing this package does not import Flower; the Flower modules do.
"""
