"""Image augmentation and image files, as Keras 2's ``keras.preprocessing.image``:
`ImageDataGenerator` (with `flow` and `flow_from_directory`), `load_img`,
`img_to_array`, `array_to_img`, `save_img` and the transform functions.

Needs Pillow (image files, brightness) and SciPy (rotation, shift, shear, zoom):
``pip install "gpuseq[image]"``.
"""
from .image_generator import ImageDataGenerator  # noqa: F401
from .image_io import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from .image_iterators import DirectoryIterator, Iterator, NumpyArrayIterator  # noqa: F401
from .image_transforms import (apply_affine_transform, apply_brightness_shift,  # noqa: F401
                               apply_channel_shift, flip_axis, random_brightness,
                               random_channel_shift, random_rotation, random_shear,
                               random_shift, random_zoom, transform_matrix_offset_center)
