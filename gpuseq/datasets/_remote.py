"""Where each data set file comes from, and its fetch through `get_file`.

`FILES` maps a file's cache name to ``(origin URL, expected hash)``; the loaders read
it at call time, so a mirror can be configured by replacing an entry.
"""
from ..utils.file_cache import get_file

_S3 = "https://s3.amazonaws.com/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

FILES = {
    "mnist.npz": (_S3 + "img-datasets/mnist.npz", "8a61469f7ea1b51cbae51d4f78837e45"),
    "imdb.npz": (_S3 + "text-datasets/imdb.npz", "599dadb1135973df5b59232a0e9a887c"),
    "imdb_word_index.json": (_S3 + "text-datasets/imdb_word_index.json",
                             "bfafd718b763782e994055a2d397834f"),
    "reuters.npz": (_S3 + "text-datasets/reuters.npz", "87aedbeb0cb229e378797a632c1997b6"),
    "reuters_word_index.json": (_S3 + "text-datasets/reuters_word_index.json",
                                "4d44cc38712099c9e383dc6e5f11a921"),
    "boston_housing.npz": (_S3 + "keras-datasets/boston_housing.npz",
                           "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"),
    "cifar-10-batches-py": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", None),
    "cifar-100-python": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", None),
}
FASHION_FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
for _name in FASHION_FILES:
    FILES[_name] = (_FASHION + _name, None)


def fetch(key, path=None, **kwargs):
    """The local path of data set file `key` (cached under the name `path` if given)."""
    origin, file_hash = FILES[key]
    return get_file(path or key, origin=origin, file_hash=file_hash, **kwargs)
