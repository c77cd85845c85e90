//! The protobuf codec of `claimdesk.v1.ClaimService`: prost's, with the
//! repeated fields of each request counted on the wire before the request
//! is decoded.
//!
//! Decoding builds every element of a repeated field (a `String` per tag, a
//! whole `Evidence` per entry), so a request of 1 MiB made of half a million
//! tiny elements costs tens of megabytes and milliseconds of an async
//! worker before any handler could refuse it. Counting first costs nothing:
//! a walk over the bytes that stops at the first count beyond its limit
//! and answers INVALID_ARGUMENT naming the field. The limits are the
//! service's own ([`crate::domain`], [`super::convert`]); validation after
//! decoding checks them again.

use std::{any::TypeId, marker::PhantomData};

use prost::{
    Message,
    encoding::{WireType, decode_key, decode_varint},
};
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;

use super::{convert::MAX_WATCH_STATES, pb};
use crate::{
    domain::{Attribution, MAX_EVIDENCE_PER_CLAIM, NewClaim},
    error::Error,
};

/// How many of a message's fields may occur, by field number.
struct Shape(&'static [Field]);

struct Field {
    number: u32,
    /// The field's path in the request, as field violations name it.
    path: &'static str,
    rule: Rule,
}

enum Rule {
    /// A repeated field of strings or messages: at most this many.
    AtMost(usize),
    /// A repeated field of varints (enums), which proto3 packs: at most this
    /// many, packed or not.
    AtMostVarints(usize),
    /// A message field whose own fields are counted.
    Nested(&'static Shape),
}

const ATTRIBUTION: Shape = Shape(&[Field {
    number: 2,
    path: "claim.attribution.relayed_from",
    rule: Rule::AtMost(Attribution::MAX_RELAYED_FROM),
}]);

const CLAIM: Shape = Shape(&[
    Field {
        number: 3,
        path: "claim.attribution",
        rule: Rule::Nested(&ATTRIBUTION),
    },
    Field {
        number: 5,
        path: "claim.tags",
        rule: Rule::AtMost(NewClaim::MAX_TAGS),
    },
    // Output only, and ignored on input; a claim read back and submitted
    // again carries at most this many.
    Field {
        number: 10,
        path: "claim.evidence",
        rule: Rule::AtMost(MAX_EVIDENCE_PER_CLAIM),
    },
]);

const SUBMIT_CLAIM: Shape = Shape(&[Field {
    number: 1,
    path: "claim",
    rule: Rule::Nested(&CLAIM),
}]);

const TAKE_NEXT_CLAIM: Shape = Shape(&[Field {
    number: 2,
    path: "tags",
    rule: Rule::AtMost(NewClaim::MAX_TAGS),
}]);

const WATCH_CLAIM_EVENTS: Shape = Shape(&[Field {
    number: 3,
    path: "states",
    rule: Rule::AtMostVarints(MAX_WATCH_STATES),
}]);

/// The shape of requests of type `U`, if they have repeated fields.
fn shape_of<U: 'static>() -> Option<&'static Shape> {
    let id = TypeId::of::<U>();
    if id == TypeId::of::<pb::SubmitClaimRequest>() {
        Some(&SUBMIT_CLAIM)
    } else if id == TypeId::of::<pb::TakeNextClaimRequest>() {
        Some(&TAKE_NEXT_CLAIM)
    } else if id == TypeId::of::<pb::WatchClaimEventsRequest>() {
        Some(&WATCH_CLAIM_EVENTS)
    } else {
        None
    }
}

/// A field whose count went past its limit.
struct TooMany {
    path: &'static str,
    limit: usize,
}

/// Counts the repeated fields of `bytes` as `shape` says. Stops at the
/// first count past its limit. Bytes that are not valid protobuf are left
/// to the decoder, which refuses them.
fn count(
    bytes: &[u8],
    shape: &Shape,
    counts: &mut Vec<(&'static str, usize)>,
) -> Result<(), TooMany> {
    let mut buf = bytes;
    while !buf.is_empty() {
        let Ok((number, wire_type)) = decode_key(&mut buf) else {
            return Ok(());
        };
        let field = shape.0.iter().find(|f| f.number == number);
        let value: &[u8] = match wire_type {
            WireType::Varint => {
                if decode_varint(&mut buf).is_err() {
                    return Ok(());
                }
                &[]
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let width = if wire_type == WireType::SixtyFourBit {
                    8
                } else {
                    4
                };
                let Some(rest) = buf.get(width..) else {
                    return Ok(());
                };
                buf = rest;
                &[]
            }
            WireType::LengthDelimited => {
                let Ok(len) = decode_varint(&mut buf) else {
                    return Ok(());
                };
                let Some(value) = usize::try_from(len).ok().and_then(|len| buf.get(..len)) else {
                    return Ok(());
                };
                buf = &buf[value.len()..];
                value
            }
            // Groups are not part of this API; the decoder decides.
            WireType::StartGroup | WireType::EndGroup => return Ok(()),
        };
        let Some(field) = field else { continue };
        match field.rule {
            Rule::Nested(inner) if wire_type == WireType::LengthDelimited => {
                count(value, inner, counts)?;
            }
            Rule::Nested(_) => {}
            Rule::AtMost(limit) | Rule::AtMostVarints(limit) => {
                // A packed field of varints holds several elements: one ends
                // at each byte below 0x80.
                let packed = matches!(field.rule, Rule::AtMostVarints(_))
                    && wire_type == WireType::LengthDelimited;
                let elements = if packed {
                    value.iter().filter(|b| **b < 0x80).count()
                } else {
                    1
                };
                let total = match counts.iter_mut().find(|(path, _)| *path == field.path) {
                    Some((_, n)) => {
                        *n += elements;
                        *n
                    }
                    None => {
                        counts.push((field.path, elements));
                        elements
                    }
                };
                if total > limit {
                    return Err(TooMany {
                        path: field.path,
                        limit,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Decodes a request of type `U` from the whole of its `bytes`, its
/// repeated fields counted first. Bytes that are not a `U` are invalid
/// input, refused as such (INVALID_ARGUMENT, naming no field: the request
/// as a whole).
pub fn decode_request<U: Message + Default + 'static>(bytes: &[u8]) -> Result<U, Error> {
    if let Some(shape) = shape_of::<U>()
        && let Err(TooMany { path, limit }) = count(bytes, shape, &mut Vec::new())
    {
        return Err(Error::invalid(
            path,
            format!("must have at most {limit} entries, has more"),
        ));
    }
    U::decode(bytes).map_err(|e| Error::invalid("", format!("not a valid request message: {e}")))
}

/// prost's codec, with [`BoundedDecoder`] for requests.
pub struct BoundedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for BoundedCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for BoundedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BoundedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BoundedDecoder(PhantomData)
    }
}

/// Decodes `U` with prost once its repeated fields are counted.
pub struct BoundedDecoder<U>(PhantomData<U>);

impl<U: Message + Default + 'static> Decoder for BoundedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        use prost::bytes::Buf as _;
        // The whole message (tonic reads it in full before decoding).
        let bytes = buf.copy_to_bytes(buf.remaining());
        decode_request(&bytes).map(Some).map_err(Status::from)
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted<M: Message + 'static>(message: &M) -> Result<(), (String, usize)> {
        let bytes = message.encode_to_vec();
        let shape = shape_of::<M>().expect("a shape");
        count(&bytes, shape, &mut Vec::new()).map_err(|e| (e.path.to_owned(), e.limit))
    }

    fn submit(claim: pb::Claim) -> pb::SubmitClaimRequest {
        pb::SubmitClaimRequest {
            claim: Some(claim),
            request_id: String::new(),
        }
    }

    #[test]
    fn requests_within_their_limits_pass_the_count() {
        let claim = pb::Claim {
            tags: vec!["a".into(); 20],
            attribution: Some(pb::Attribution {
                source: "Harbour Gazette".into(),
                relayed_from: vec!["b".into(); 20],
                url: String::new(),
            }),
            evidence: vec![pb::Evidence::default(); 100],
            ..Default::default()
        };
        assert_eq!(counted(&submit(claim)), Ok(()));
        let watch = pb::WatchClaimEventsRequest {
            states: vec![1, 2, 3, 4, 5, 6],
            ..Default::default()
        };
        assert_eq!(counted(&watch), Ok(()));
    }

    #[test]
    fn each_repeated_field_past_its_limit_is_named() {
        let too_many_tags = pb::Claim {
            tags: vec!["a".into(); 21],
            ..Default::default()
        };
        assert_eq!(
            counted(&submit(too_many_tags)),
            Err(("claim.tags".into(), 20))
        );
        let too_many_relays = pb::Claim {
            attribution: Some(pb::Attribution {
                relayed_from: vec![String::new(); 21],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            counted(&submit(too_many_relays)),
            Err(("claim.attribution.relayed_from".into(), 20))
        );
        let too_much_evidence = pb::Claim {
            evidence: vec![pb::Evidence::default(); 101],
            ..Default::default()
        };
        assert_eq!(
            counted(&submit(too_much_evidence)),
            Err(("claim.evidence".into(), 100))
        );
        let take = pb::TakeNextClaimRequest {
            tags: vec![String::new(); 21],
            ..Default::default()
        };
        assert_eq!(counted(&take), Err(("tags".into(), 20)));
        // Packed: one field holding seven varints, some of several bytes.
        let watch = pb::WatchClaimEventsRequest {
            states: vec![1, 2, 3, 300, 5, 6, 1_000_000],
            ..Default::default()
        };
        assert_eq!(counted(&watch), Err(("states".into(), 6)));
    }

    #[test]
    fn a_claim_sent_twice_is_counted_as_the_merge_it_decodes_to() {
        let half = submit(pb::Claim {
            tags: vec!["a".into(); 11],
            ..Default::default()
        });
        let mut bytes = half.encode_to_vec();
        bytes.extend(half.encode_to_vec());
        assert!(matches!(
            count(&bytes, &SUBMIT_CLAIM, &mut Vec::new()),
            Err(TooMany {
                path: "claim.tags",
                ..
            })
        ));
    }

    #[test]
    fn bytes_that_are_not_protobuf_are_left_to_the_decoder() {
        for bytes in [&[0xff_u8; 12][..], &[0x0a, 0x80], &[0x0a, 0x05, 0x01]] {
            assert!(count(bytes, &SUBMIT_CLAIM, &mut Vec::new()).is_ok());
        }
    }

    #[test]
    fn bytes_that_are_not_the_request_are_invalid_input_naming_no_field() {
        for bytes in [
            &[0x0a, 0x05, b'a'][..],   // a string longer than what follows
            &[0x0a, 0x01, 0xff],       // a string that is not UTF-8
            &[0x08, 0x80, 0x80, 0x80], // a varint cut short
        ] {
            let error = decode_request::<pb::GetClaimRequest>(bytes).expect_err("refused");
            let Error::Invalid(violations) = &error else {
                panic!("{bytes:?}: {error:?}");
            };
            assert_eq!(violations.listed()[0].field, "", "{bytes:?}");
            assert_eq!(Status::from(error).code(), tonic::Code::InvalidArgument);
        }
    }

    /// The request messages of `claimdesk.v1.ClaimService` that hold a
    /// repeated field, directly or in a message field, by their full name.
    fn requests_with_repeated_fields() -> Vec<String> {
        use prost_types::{FileDescriptorSet, field_descriptor_proto::Label};
        use std::collections::HashMap;

        let set = FileDescriptorSet::decode(super::super::FILE_DESCRIPTOR_SET).unwrap();
        let mut messages = HashMap::new();
        for file in &set.file {
            for message in &file.message_type {
                messages.insert(format!(".{}.{}", file.package(), message.name()), message);
            }
        }
        fn repeats(
            name: &str,
            messages: &HashMap<String, &prost_types::DescriptorProto>,
            depth: usize,
        ) -> bool {
            let Some(message) = messages.get(name) else {
                return false;
            };
            message.field.iter().any(|f| {
                f.label() == Label::Repeated
                    || (depth < 4 && repeats(f.type_name(), messages, depth + 1))
            })
        }
        let mut found = Vec::new();
        for file in &set.file {
            for service in file.service.iter().filter(|s| s.name() == "ClaimService") {
                for method in &service.method {
                    if repeats(method.input_type(), &messages, 0) {
                        found.push(method.input_type().trim_start_matches('.').to_owned());
                    }
                }
            }
        }
        found.sort();
        found
    }

    /// A new request with a list must get a shape here, or decoding it is
    /// unbounded again.
    #[test]
    fn every_request_with_a_repeated_field_has_its_fields_counted() {
        assert_eq!(
            requests_with_repeated_fields(),
            [
                "claimdesk.v1.SubmitClaimRequest",
                "claimdesk.v1.TakeNextClaimRequest",
                "claimdesk.v1.WatchClaimEventsRequest",
            ],
            "add a Shape to grpc/codec.rs for each new one, and list it here"
        );
        assert!(shape_of::<pb::SubmitClaimRequest>().is_some());
        assert!(shape_of::<pb::TakeNextClaimRequest>().is_some());
        assert!(shape_of::<pb::WatchClaimEventsRequest>().is_some());
    }
}
