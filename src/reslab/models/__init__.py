"""Registered model builders. Importing this package registers every family."""

from reslab.models import cifar, densenet, gpt, highway, imagenet, unet  # noqa: F401
from reslab.models.cifar import cifar_resnet, wide_resnet_cifar
from reslab.models.densenet import DenseNet, cifar_densenet, imagenet_densenet
from reslab.models.gpt import GPT
from reslab.models.highway import HighwayNet, highway_cifar19, highway_mlp
from reslab.models.imagenet import imagenet_resnet
from reslab.models.info import count_depth, count_macs, count_params, model_info
from reslab.models.pretrained import load_pretrained
from reslab.models.registry import ModelEntry, create_model, get_entry, list_models, register_model
from reslab.models.resnet import ResNet, Stage
from reslab.models.unet import UNet
from reslab.models.vgg import VGG

__all__ = [
    "GPT",
    "VGG",
    "DenseNet",
    "HighwayNet",
    "ModelEntry",
    "ResNet",
    "Stage",
    "UNet",
    "cifar_densenet",
    "cifar_resnet",
    "count_depth",
    "count_macs",
    "count_params",
    "create_model",
    "get_entry",
    "highway_cifar19",
    "highway_mlp",
    "imagenet_densenet",
    "imagenet_resnet",
    "list_models",
    "load_pretrained",
    "model_info",
    "register_model",
    "wide_resnet_cifar",
]
