"""Multi-device training: the one package that branches on the Keras backend.

One module per job, each importing only those listed before it:

- `collectives`: what the loss needs across replicas (gathering embeddings
  and group ids, scaling the loss); the only module `keras_mpcl.losses`
  imports.
- `datasets`: what each input pipeline reads (`ShardSpec`) and cutting
  global batches into per-replica slices.
- `optimizers`: `AllReducedClippingAdamW`, `SparseSafeAdamW`.
- `torch_ddp`: `fit` with `DistributedDataParallel` for torchrun
  (`ddp_fit`, Keras callbacks included), which Keras' torch `fit` does not give.
- `strategies`: each backend's engine for a strategy name, and starting it.
- `setup`: `configure` and the `DistributionSetup` it returns.

The names below are re-exported for users (`keras_mpcl.distribution.configure`)
and loaded on first use, so that importing one module (as the loss does)
loads no other. Library code imports from the module itself.
"""

from keras_mpcl._lazy import lazy_attributes

_EXPORTS = {  # public name: the module defining it
    "GATHER_OPTIONS": "collectives",
    "PADDING_ID": "collectives",
    "check_gather_option": "collectives",
    "gather_replica_batch": "collectives",
    "num_replicas_in_sync": "collectives",
    "replica_info": "collectives",
    "replica_share_to_loss": "collectives",
    "scale_loss_for_replicas": "collectives",
    "should_gather": "collectives",
    "sum_across_replicas": "collectives",
    "unique_group_ids": "collectives",
    "ShardSpec": "datasets",
    "split_global_batches": "datasets",
    "AllReducedClippingAdamW": "optimizers",
    "SparseSafeAdamW": "optimizers",
    "ddp_fit": "torch_ddp",
    "wrap_ddp": "torch_ddp",
    "STRATEGIES": "strategies",
    "simulate_cpu_devices": "strategies",
    "DistributionSetup": "setup",
    "configure": "setup",
    "shard_info": "setup",
}


__getattr__, __dir__ = lazy_attributes(
    __name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})

__all__ = [
    "GATHER_OPTIONS",
    "PADDING_ID",
    "STRATEGIES",
    "AllReducedClippingAdamW",
    "SparseSafeAdamW",
    "DistributionSetup",
    "ShardSpec",
    "check_gather_option",
    "configure",
    "ddp_fit",
    "gather_replica_batch",
    "num_replicas_in_sync",
    "replica_info",
    "replica_share_to_loss",
    "scale_loss_for_replicas",
    "shard_info",
    "should_gather",
    "simulate_cpu_devices",
    "split_global_batches",
    "sum_across_replicas",
    "unique_group_ids",
    "wrap_ddp",
]
