//! The input shape an ONNX model declares, read straight from its protobuf (`ModelProto.graph`
//! → the first graph input that is not an initializer → its tensor shape), so a sidecar that
//! does not fit the model is refused with both shapes named, before OpenCV or any image is
//! involved. A few lines of protobuf wire format instead of a protobuf crate: only these fields
//! are read, everything else is skipped by its wire type.

use anyhow::{bail, ensure, Context, Result};

/// One dimension: its size, or `None` when symbolic (`"N"`, `"batch"`) or not given.
pub type Dim = Option<i64>;

/// A field of a protobuf message: its number and its value.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Value<'_>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut buf)?),
            1 => {
                ensure!(buf.len() >= 8, "cut short");
                buf = &buf[8..];
                Value::Fixed
            }
            2 => {
                let len = varint(&mut buf)? as usize;
                ensure!(buf.len() >= len, "cut short");
                let (v, rest) = buf.split_at(len);
                buf = rest;
                Value::Bytes(v)
            }
            5 => {
                ensure!(buf.len() >= 4, "cut short");
                buf = &buf[4..];
                Value::Fixed
            }
            t => bail!("wire type {t} is not protobuf"),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().context("cut short")?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("a varint longer than 10 bytes")
}

fn bytes_of<'a, 'm>(msg: &'m [(u64, Value<'a>)], field: u64) -> impl Iterator<Item = &'a [u8]> + 'm {
    msg.iter().filter_map(move |(f, v)| match v {
        Value::Bytes(b) if *f == field => Some(*b),
        _ => None,
    })
}

/// The shape of the model's (first) input: `Ok(dims)` from a model file's bytes, or why they
/// are not an ONNX model.
pub fn input_shape(model: &[u8]) -> Result<Vec<Dim>> {
    let top = fields(model).context("not an ONNX model (truncated, or not protobuf)")?;
    let graph = bytes_of(&top, 7).next().context("not an ONNX model (no graph)")?;
    let graph = fields(graph).context("not an ONNX model (its graph is truncated)")?;
    // Old exporters list the weights among the inputs too: the real input is the first that is
    // not an initializer (TensorProto.name is field 8).
    let mut weights = Vec::new();
    for init in bytes_of(&graph, 5) {
        if let Some(name) = bytes_of(&fields(init)?, 8).next() {
            weights.push(name);
        }
    }
    for input in bytes_of(&graph, 11) {
        let info = fields(input)?;
        let name = bytes_of(&info, 1).next().unwrap_or_default();
        if weights.contains(&name) {
            continue;
        }
        let dims = (|| -> Result<Vec<Dim>> {
            let ty = fields(bytes_of(&info, 2).next().context("no type")?)?;
            let tensor = fields(bytes_of(&ty, 1).next().context("not a tensor")?)?;
            let Some(shape) = bytes_of(&tensor, 2).next() else { return Ok(Vec::new()) };
            let mut dims = Vec::new();
            for dim in bytes_of(&fields(shape)?, 1) {
                let d = fields(dim)?;
                dims.push(d.iter().find_map(|(f, v)| match v {
                    Value::Varint(n) if *f == 1 => Some(*n as i64),
                    _ => None,
                }));
            }
            Ok(dims)
        })()
        .with_context(|| format!("not an ONNX model (input {:?} is malformed)", String::from_utf8_lossy(name)))?;
        return Ok(dims);
    }
    bail!("the model declares no input")
}

/// Checks a declared input shape against the sidecar's (`expected`, batch first) and the batch
/// size asked for: a fixed dimension must agree; a symbolic one takes anything.
pub fn check_against(declared: &[Dim], expected: [usize; 4], what: &str) -> Result<()> {
    let show = |d: &[Dim]| d.iter().map(|x| x.map_or("?".into(), |n| n.to_string())).collect::<Vec<_>>().join("x");
    let want = expected.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
    if declared.is_empty() {
        return Ok(()); // no shape declared: the forward pass will tell
    }
    ensure!(declared.len() == 4, "the model's input is {} ({}-D); {what} gives {want}", show(declared), declared.len());
    if let Some(b) = declared[0] {
        ensure!(b as usize == expected[0], "the model takes batches of exactly {b}; use --batch-size {b}");
    }
    for (d, &e) in declared.iter().zip(&expected).skip(1) {
        ensure!(d.is_none_or(|d| d as usize == e), "the model's input is {}; {what} gives {want}", show(declared));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf field: key and length-delimited bytes.
    fn field(n: u64, body: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3 | 2) as u8, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn model(dims: &[Option<u8>]) -> Vec<u8> {
        let shape: Vec<u8> =
            dims.iter().flat_map(|d| field(1, &d.map_or_else(|| field(2, b"N"), |n| vec![1 << 3, n]))).collect();
        let tensor = [vec![1 << 3, 1], field(2, &shape)].concat();
        let info = [field(1, b"image"), field(2, &field(1, &tensor))].concat();
        let weight = field(5, &field(8, b"w"));
        let winfo = field(11, &field(1, b"w"));
        field(7, &[weight, winfo, field(11, &info)].concat())
    }

    #[test]
    fn the_first_input_that_is_not_a_weight_gives_the_shape() {
        assert_eq!(
            input_shape(&model(&[None, Some(3), Some(40), Some(48)])).unwrap(),
            [None, Some(3), Some(40), Some(48)]
        );
    }

    #[test]
    fn text_and_cut_files_are_not_onnx() {
        let e = input_shape(b"this is not an ONNX model\n").unwrap_err();
        assert!(format!("{e:#}").contains("not an ONNX model"), "{e:#}");
        let m = model(&[None, Some(3), Some(40), Some(48)]);
        assert!(format!("{:#}", input_shape(&m[..m.len() / 2]).unwrap_err()).contains("not an ONNX model"));
    }

    #[test]
    fn fixed_dimensions_must_agree_and_symbolic_ones_take_anything() {
        let d = [None, Some(3), Some(40), Some(48)];
        check_against(&d, [4, 3, 40, 48], "the sidecar").unwrap();
        let e = check_against(&d, [4, 3, 64, 64], "the sidecar").unwrap_err().to_string();
        assert!(e.contains("?x3x40x48") && e.contains("4x3x64x64"), "{e}");
        let e = check_against(&[Some(1), Some(3), Some(40), Some(48)], [4, 3, 40, 48], "s").unwrap_err();
        assert!(e.to_string().contains("--batch-size 1"));
    }
}
