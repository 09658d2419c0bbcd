"""Registered model builders. Importing this package registers every family."""

from reslab.models import cifar, highway, imagenet  # noqa: F401  (registration side effect)
from reslab.models.cifar import cifar_resnet, wide_resnet_cifar
from reslab.models.highway import HighwayNet, highway_cifar19, highway_mlp
from reslab.models.imagenet import imagenet_resnet
from reslab.models.info import count_depth, count_macs, count_params, model_info
from reslab.models.registry import ModelEntry, create_model, get_entry, list_models, register_model
from reslab.models.resnet import ResNet, Stage
from reslab.models.vgg import VGG

__all__ = [
    "VGG",
    "HighwayNet",
    "ModelEntry",
    "ResNet",
    "Stage",
    "cifar_resnet",
    "count_depth",
    "count_macs",
    "count_params",
    "create_model",
    "get_entry",
    "highway_cifar19",
    "highway_mlp",
    "imagenet_resnet",
    "list_models",
    "model_info",
    "register_model",
    "wide_resnet_cifar",
]
