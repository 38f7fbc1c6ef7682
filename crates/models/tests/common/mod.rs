//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use w2s_models::{SequenceClassifier, TextTokenizer, TokenBatch, make_batch};

/// `crates/models/tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// The tiny random-weight BERT written by `scripts/make_reference.py`.
pub fn tiny_bert() -> PathBuf {
    fixtures().join("tiny-bert")
}

/// The tiny random-weight MPNet written by `scripts/make_reference.py`.
pub fn tiny_mpnet() -> PathBuf {
    fixtures().join("tiny-mpnet")
}

/// The tiny random-weight GPT-2 classifier written by `scripts/make_reference.py`.
pub fn tiny_gpt2() -> PathBuf {
    fixtures().join("tiny-gpt2")
}

/// Where `just models` puts the pretrained models: `<workspace>/checkpoints/pretrained`.
pub fn pretrained_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/pretrained")
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// All numbers of a (nested) JSON array, flattened in order.
pub fn floats(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number") as f32],
        other => panic!("expected numbers, found {other}"),
    }
}

/// The `input_ids` field of a reference: one list of ids per text.
pub fn id_lists(value: &Value) -> Vec<Vec<u32>> {
    value
        .as_array()
        .expect("list of id lists")
        .iter()
        .map(|ids| {
            ids.as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("list of strings")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec_as::<f32>().expect("f32 data")
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn batch(ids: &[Vec<u32>], pad_id: u32, device: &Device) -> TokenBatch {
    let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    make_batch(&refs, pad_id, device)
}

/// Rows `[seq_len, hidden]` of the real tokens of sequence `index` of a `[batch, seq, hidden]`
/// state, keeping only the first `dims` columns.
pub fn real_rows(hidden: &Tensor<3>, index: usize, seq_len: usize, dims: usize) -> Vec<f32> {
    values(hidden.clone().slice([index..index + 1, 0..seq_len, 0..dims]))
}

pub fn tiny_tokenizer() -> TextTokenizer {
    TextTokenizer::from_file(&tiny_bert().join("tokenizer.json")).expect("tiny tokenizer")
}

/// Copy a model directory (files only) into `dest`.
pub fn copy_model_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
}

/// A tensor as (name, shape, f32 values), for rewriting safetensors files in tests.
pub type Named = (String, Vec<usize>, Vec<f32>);

pub fn read_tensors(path: &Path) -> Vec<Named> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<Named> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32);
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Write tensors to a safetensors file, each in `dtype` (F32, F16 or BF16).
pub fn write_tensors(path: &Path, tensors: &[Named], dtype: Dtype) {
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let bytes = match dtype {
                Dtype::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                Dtype::F16 => data
                    .iter()
                    .flat_map(|v| burn::tensor::f16::from_f32(*v).to_le_bytes())
                    .collect(),
                Dtype::BF16 => data
                    .iter()
                    .flat_map(|v| burn::tensor::bf16::from_f32(*v).to_le_bytes())
                    .collect(),
                other => panic!("unsupported {other:?}"),
            };
            (name.clone(), shape.clone(), bytes)
        })
        .collect();
    let views = encoded.iter().map(|(name, shape, bytes)| {
        (
            name.clone(),
            safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes).unwrap(),
        )
    });
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Asserts that padding never leaks into real tokens: the pooled output of `batch` is unchanged
/// when every padding slot holds another token, and each text (`ids`, padded with `pad_id`)
/// alone gives what it gives in the padded batch.
#[allow(dead_code)]
pub fn assert_padding_never_leaks(
    model: &SequenceClassifier,
    ids: &[Vec<u32>],
    batch: &TokenBatch,
    pad_id: u32,
    device: &Device,
) {
    let pooled = model.pooled(batch);
    let [rows, seq] = batch.input_ids.dims();
    let mask = values(batch.attention_mask.clone().float());
    let odd_pad: Vec<i64> = values(batch.input_ids.clone().float())
        .iter()
        .zip(&mask)
        .map(|(&id, &m)| if m > 0.0 { id as i64 } else { 42 })
        .collect();
    let repadded = TokenBatch {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(odd_pad, [rows, seq]), device),
        attention_mask: batch.attention_mask.clone(),
    };
    assert!(max_abs_diff(&values(pooled.clone()), &values(model.pooled(&repadded))) < 1e-6);

    for (i, seq) in ids.iter().enumerate() {
        let alone = values(model.pooled(&self::batch(std::slice::from_ref(seq), pad_id, device)));
        let batched = values(pooled.clone().narrow(0, i, 1));
        assert!(max_abs_diff(&alone, &batched) < 1e-5, "text {i}");
    }
}

/// The reference file's token ids and their padded batch.
pub fn reference_ids_batch(reference: &Value, pad_id: u32, device: &Device) -> (Vec<Vec<u32>>, TokenBatch) {
    let ids = id_lists(&reference["input_ids"]);
    let batch = batch(&ids, pad_id, device);
    (ids, batch)
}

/// Compares the real-token rows of `hidden` with the reference's `last_hidden_state`.
pub fn assert_hidden_matches_reference(hidden: &Tensor<3>, ids: &[Vec<u32>], reference: &Value, tolerance: f32) {
    let [.., width] = hidden.dims();
    for (i, seq) in ids.iter().enumerate() {
        let expected = floats(&reference["last_hidden_state"][i]);
        let diff = max_abs_diff(&real_rows(hidden, i, seq.len(), width), &expected);
        assert!(diff < tolerance, "text {i}: last_hidden_state differs by {diff}");
    }
}
