"""zoo/keras_compat.py, the one place that touches Keras' private API.

Checked against the Keras versions in `keras_compat.CHECKED_VERSIONS`; on
any other version this test fails first, naming what to re-check.
"""

import keras

from zoo import keras_compat


def test_private_members_exist_in_this_keras():
    keras_compat.check()


def test_this_keras_is_a_checked_version():
    assert keras.__version__ in keras_compat.CHECKED_VERSIONS, (
        f"zoo/keras_compat.py was checked against Keras "
        f"{', '.join(keras_compat.CHECKED_VERSIONS)}, this is "
        f"{keras.__version__}: re-read the private members it uses, run the "
        "layer and resume tests, then add the version to CHECKED_VERSIONS."
    )
