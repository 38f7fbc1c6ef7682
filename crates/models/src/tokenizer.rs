//! Tokenization with a HF `tokenizer.json`, and batching of token ids.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::Tokenizer;

use crate::classifier::TokenBatch;
use crate::{ModelConfig, ModelError};

/// Special tokens tried, in order, when tokenizer.json configures no padding. GPT-2 has no
/// pad token: its `<|endoftext|>` pads (the attention mask hides it), as is customary.
const PAD_TOKENS: [&str; 4] = ["[PAD]", "<pad>", "<|padding|>", "<|endoftext|>"];

/// A HF tokenizer with its own padding and truncation turned off: [`TextTokenizer::encode`]
/// truncates, and [`make_batch`] pads to the longest sequence of each batch.
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    pad_id: u32,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("vocab_size", &self.vocab_size())
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl TextTokenizer {
    /// Load `tokenizer.json`, disabling the padding and truncation it may configure
    /// (MiniLM's pads and truncates everything to 128 tokens).
    ///
    /// The pad id is the one of the file's padding settings, else the id of `[PAD]` or
    /// `<pad>`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let err = |message: String| ModelError::Tokenizer {
            path: path.into(),
            message,
        };
        let mut inner = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
        let pad_id = match inner.get_padding() {
            Some(padding) => padding.pad_id,
            None => PAD_TOKENS
                .iter()
                .find_map(|t| inner.token_to_id(t))
                .ok_or_else(|| err(format!("no padding settings and none of the pad tokens {PAD_TOKENS:?}")))?,
        };
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            inner,
            path: path.into(),
            pad_id,
        })
    }

    /// Token ids of each text, with the special tokens (`[CLS] … [SEP]`), cut to at most
    /// `max_len` ids by dropping content tokens from the end, so that the trailing special
    /// tokens stay. Not padded.
    pub fn encode(&self, texts: &[String], max_len: usize) -> Result<Vec<Vec<u32>>, ModelError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        encodings
            .iter()
            .map(|e| truncate_keeping_tail(e.get_ids(), e.get_special_tokens_mask(), max_len))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ModelError::InvalidArgument {
                field: "max_len",
                message: format!("{max_len} cannot hold the special tokens the tokenizer adds"),
            })
    }

    /// Token ids of each text as they stand: no special tokens added and no truncation (for
    /// prompts and continuations of a causal LM, which are joined as they are). Special tokens
    /// written out in a text (`<|im_start|>`) are still recognised.
    pub fn encode_plain(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, ModelError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self.inner.encode_batch(inputs, false).map_err(|e| self.error(e))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The text of `ids`, special tokens (end of text, padding) left out.
    ///
    /// # Errors
    /// When an id is not in the vocabulary or the decoder fails; the message names the file.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        if let Some(&id) = ids.iter().find(|&&id| self.inner.id_to_token(id).is_none()) {
            return Err(self.error(format!(
                "cannot decode id {id}: the vocabulary has {} ids",
                self.vocab_size()
            )));
        }
        self.inner.decode(ids, true).map_err(|e| self.error(e))
    }

    fn error(&self, message: impl ToString) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Number of distinct ids the tokenizer can produce (including added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The tokenizer.json this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Cut `ids` to `max_len` by removing ids just before the run of trailing special tokens
/// (per `special`, 1 = special). `None` if `max_len` is shorter than the special tokens.
fn truncate_keeping_tail(ids: &[u32], special: &[u32], max_len: usize) -> Option<Vec<u32>> {
    if ids.len() <= max_len {
        return Some(ids.to_vec());
    }
    let tail = special.iter().rev().take_while(|&&s| s == 1).count();
    let head = special.iter().take_while(|&&s| s == 1).count();
    if head + tail > max_len {
        return None;
    }
    let mut out = ids[..max_len - tail].to_vec();
    out.extend_from_slice(&ids[ids.len() - tail..]);
    Some(out)
}

/// Check that every id the tokenizer can produce has a row in the model's word embeddings.
pub fn check_compatible(tokenizer: &TextTokenizer, config: &ModelConfig) -> Result<(), ModelError> {
    if tokenizer.vocab_size() > config.vocab_size() {
        return Err(ModelError::VocabMismatch {
            path: tokenizer.path.clone(),
            tokenizer_vocab: tokenizer.vocab_size(),
            model_vocab: config.vocab_size(),
        });
    }
    Ok(())
}

/// Pad a batch of id sequences to its longest member and build the attention mask
/// (1 = real token, 0 = padding).
///
/// # Panics
/// If `ids` is empty.
pub fn make_batch(ids: &[&[u32]], pad_id: u32, device: &Device) -> TokenBatch {
    assert!(!ids.is_empty(), "make_batch: empty batch");
    let seq = ids.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut input_ids = Vec::with_capacity(ids.len() * seq);
    let mut mask = Vec::with_capacity(ids.len() * seq);
    for sequence in ids {
        let pad = seq - sequence.len();
        input_ids.extend(sequence.iter().map(|&id| i64::from(id)));
        input_ids.extend(std::iter::repeat_n(i64::from(pad_id), pad));
        mask.extend(std::iter::repeat_n(1_i64, sequence.len()));
        mask.extend(std::iter::repeat_n(0_i64, pad));
    }
    let shape = [ids.len(), seq];
    TokenBatch {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(input_ids, shape), device),
        attention_mask: Tensor::<2, Int>::from_data(TensorData::new(mask, shape), device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_leading_and_trailing_special_tokens() {
        let ids = [101, 1, 2, 3, 4, 102];
        let special = [1, 0, 0, 0, 0, 1];
        assert_eq!(truncate_keeping_tail(&ids, &special, 4), Some(vec![101, 1, 2, 102]));
        assert_eq!(truncate_keeping_tail(&ids, &special, 6), Some(ids.to_vec()));
        assert_eq!(truncate_keeping_tail(&ids, &special, 2), Some(vec![101, 102]));
        assert_eq!(truncate_keeping_tail(&ids, &special, 1), None);
    }

    #[test]
    fn make_batch_pads_to_longest_and_masks_padding() {
        let device = Device::flex();
        let batch = make_batch(&[&[5, 6, 7], &[8]], 0, &device);
        let ids: Vec<i64> = batch.input_ids.into_data().try_into_vec_as::<i64>().unwrap();
        let mask: Vec<i64> = batch.attention_mask.into_data().try_into_vec_as::<i64>().unwrap();
        assert_eq!(ids, vec![5, 6, 7, 8, 0, 0]);
        assert_eq!(mask, vec![1, 1, 1, 1, 0, 0]);
    }
}
