//! Tokenizer parity on tricky strings (accents, emoji, CJK, whitespace runs, control
//! characters, a long input cut to `max_len`): the ids must equal those of reference
//! tokenizers that do not read tokenizer.json (transformers' pure-Python WordPiece, OpenAI's
//! GPT-2 BPE), recorded in `tests/fixtures/tokenizer-parity.json` by
//! `scripts/make_reference.py`.

mod common;

use std::path::Path;

use common::*;
use w2s_models::TextTokenizer;

fn check(name: &str, tokenizer_json: &Path) {
    let all = read_json(&fixtures().join("tokenizer-parity.json"));
    let case = &all[name];
    assert!(case.is_object(), "no parity case `{name}`: rerun make_reference.py");
    let tokenizer = TextTokenizer::from_file(tokenizer_json).unwrap();
    let max_len = case["max_len"].as_u64().unwrap() as usize;
    let texts = strings(&case["texts"]);
    let got = tokenizer.encode(&texts, max_len).unwrap();
    let expected = id_lists(&case["input_ids"]);
    for ((text, got), expected) in texts.iter().zip(&got).zip(&expected) {
        assert_eq!(got, expected, "{name}: {text:?}");
    }
    assert!(
        got.iter().any(|ids| ids.len() == max_len),
        "{name}: the long text is truncated"
    );
}

fn fetched(name: &str) -> std::path::PathBuf {
    let path = pretrained_root().join(name).join("tokenizer.json");
    assert!(
        path.is_file(),
        "{} is missing: run `just models {name}`",
        path.display()
    );
    path
}

#[test]
fn tiny_bert_wordpiece() {
    check("tiny-bert", &tiny_bert().join("tokenizer.json"));
}

#[test]
fn tiny_mpnet_wordpiece() {
    check("tiny-mpnet", &tiny_mpnet().join("tokenizer.json"));
}

#[test]
fn tiny_gpt2_byte_level_bpe() {
    check("tiny-gpt2", &tiny_gpt2().join("tokenizer.json"));
}

#[test]
#[ignore = "needs `just models`"]
fn minilm_wordpiece() {
    check("minilm-l6", &fetched("minilm-l6"));
}

#[test]
#[ignore = "needs `just models mpnet-base`"]
fn mpnet_base_wordpiece() {
    check("mpnet-base", &fetched("mpnet-base"));
}

#[test]
#[ignore = "needs `just models gpt2-tokenizer`"]
fn gpt2_byte_level_bpe() {
    let path = fetched("gpt2-tokenizer");
    check("gpt2", &path);
    let tokenizer = TextTokenizer::from_file(&path).unwrap();
    assert_eq!(
        tokenizer.encode(&["Hello world".to_string()], 1024).unwrap(),
        [vec![15496, 995]]
    );
    assert_eq!((tokenizer.pad_id(), tokenizer.vocab_size()), (50256, 50257));
}
