import keras
import numpy as np
import pytest

from zoo.layers import VocabularyClip


def test_ids_past_the_vocabulary_become_the_oov_id():
    ids = np.array([[5, 99, 100, 4096, 0]])
    np.testing.assert_array_equal(VocabularyClip(100)(ids), [[5, 99, 1, 1, 0]])
    np.testing.assert_array_equal(
        VocabularyClip(100, oov_id=7)(ids), [[5, 99, 7, 7, 0]]
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"vocabulary_size": 0}, "vocabulary_size"),
        ({"vocabulary_size": 5, "oov_id": 5}, "oov_id"),
        ({"vocabulary_size": 5, "oov_id": -1}, "oov_id"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        VocabularyClip(**arguments)


def test_config_and_keras_file_round_trip(rng, tmp_path):
    layer = VocabularyClip(20, oov_id=3, name="clip")
    assert VocabularyClip.from_config(layer.get_config()).get_config() == (
        layer.get_config()
    )
    tokens = keras.Input(shape=(None,), dtype="int32")
    model = keras.Model(tokens, layer(tokens))
    model.save(tmp_path / "clip.keras")
    restored = keras.saving.load_model(tmp_path / "clip.keras", safe_mode=True)
    ids = rng.integers(0, 40, size=(2, 6)).astype("int32")
    np.testing.assert_array_equal(restored(ids), model(ids))
    assert model(ids).dtype == "int32"
