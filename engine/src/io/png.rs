//! Pictures: an RGB [`Image`] that is written and read as PNG through the `png` crate, a
//! particle renderer ([`render_frame`], [`draw_path`]), and a line plot with labelled axes
//! ([`plot_curve`]) whose digits come from a built-in 3x5 bitmap font.

use crate::error::{Error, Result};
use crate::math::{Real, det};
use crate::mpm::{Model, State};
use std::path::Path;

/// An 8-bit RGB image, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `3 * width * height` bytes: red, green, blue per pixel, row-major from the top left.
    pub pixels: Vec<u8>,
}

impl Image {
    /// An image filled with `colour`.
    pub fn new(width: u32, height: u32, colour: [u8; 3]) -> Self {
        let pixels = colour.repeat(width as usize * height as usize);
        Image { width, height, pixels }
    }

    /// The colour of pixel (`x`, `y`), counted from the top left.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Mixes `colour` into pixel (`x`, `y`) with weight `alpha` in [0, 1]; pixels outside the
    /// image are ignored.
    fn blend(&mut self, x: i64, y: i64, colour: [f32; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = 3 * (y as usize * self.width as usize + x as usize);
        for (c, px) in colour.iter().zip(&mut self.pixels[i..i + 3]) {
            *px = (*px as f32 * (1.0 - alpha) + c * alpha).round().clamp(0.0, 255.0) as u8;
        }
    }

    /// The image as the bytes of a PNG file (8-bit RGB). Fails for an empty image or one whose
    /// `pixels` do not hold `3 * width * height` bytes.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        self.encode().map_err(|e| Error::InvalidArgument(format!("a {}x{} image as PNG: {e}", self.width, self.height)))
    }

    fn encode(&self) -> std::result::Result<Vec<u8>, ::png::EncodingError> {
        let mut bytes = Vec::new();
        let mut encoder = ::png::Encoder::new(&mut bytes, self.width, self.height);
        encoder.set_color(::png::ColorType::Rgb);
        encoder.set_depth(::png::BitDepth::Eight);
        // fdeflate with adaptive row filters: fast, and rendered frames (flat background,
        // discs) still compress to a few percent of their raw size.
        encoder.set_compression(::png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(bytes)
    }

    /// Writes the image to `path` as a PNG (atomically: see [`super::write_atomic`]).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let bytes = self.encode().map_err(|e| {
            Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("cannot encode as PNG: {e}")))
        })?;
        super::write_atomic(path, &bytes)
    }

    /// Decodes a PNG file's bytes into an RGB image: any colour type and bit depth the `png`
    /// crate reads (palettes and greyscale are expanded, 16-bit samples cut to 8 bits, alpha
    /// dropped; the first frame of an animated PNG). Checksums are checked. Errors name
    /// `file_name`.
    pub fn from_png(bytes: &[u8], file_name: &str) -> Result<Self> {
        let fail = |e: ::png::DecodingError| Error::scene(file_name, None, format!("not a readable PNG: {e}"));
        let mut decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(::png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(fail)?;
        let Some(size) = reader.output_buffer_size() else {
            return Err(Error::scene(file_name, None, "the PNG is too large to decode"));
        };
        let mut buffer = vec![0; size];
        let info = reader.next_frame(&mut buffer).map_err(fail)?;
        let (width, height) = (info.width as usize, info.height as usize);
        let samples = info.color_type.samples();
        let mut pixels = Vec::with_capacity(3 * width * height);
        for row in buffer[..info.buffer_size()].chunks_exact(info.line_size) {
            for px in row[..samples * width].chunks_exact(samples) {
                match samples {
                    1 | 2 => pixels.extend([px[0]; 3]),
                    _ => pixels.extend_from_slice(&px[..3]),
                }
            }
        }
        Ok(Image { width: info.width, height: info.height, pixels })
    }
}

/// Background of rendered frames.
pub const BACKGROUND: [u8; 3] = [18, 20, 26];
/// Colour of the domain outline.
const OUTLINE: [f32; 3] = [96.0, 104.0, 120.0];
/// Material colours, by material index (cycled).
const PALETTE: [[f32; 3]; 8] = [
    [86.0, 156.0, 240.0],  // blue
    [244.0, 144.0, 62.0],  // orange
    [96.0, 200.0, 128.0],  // green
    [236.0, 96.0, 110.0],  // red
    [178.0, 142.0, 240.0], // violet
    [240.0, 208.0, 86.0],  // yellow
    [88.0, 206.0, 210.0],  // teal
    [240.0, 150.0, 200.0], // pink
];

/// Maps simulation space to the image: an orthographic view, fitted to the domain box with a
/// margin. 2D: the domain as it is, y up. 3D: turned 35 degrees about the vertical and tilted
/// 25 degrees so that the top and two sides of the box show.
struct Camera {
    dim: usize,
    /// Centre of the domain (world units).
    center: [f64; 3],
    /// Pixels per world unit.
    scale: f64,
    /// Image position of the domain centre.
    origin: [f64; 2],
    rotation: [[f64; 3]; 3],
}

impl Camera {
    fn new(dim: usize, extent: [f64; 3], width: u32, height: u32) -> Self {
        let (yaw, pitch) = if dim == 2 { (0.0f64, 0.0f64) } else { (35f64.to_radians(), 25f64.to_radians()) };
        let (sy, cy, sp, cp) = (yaw.sin(), yaw.cos(), pitch.sin(), pitch.cos());
        // Pitch about x after yaw about y; view space has x right, y up, z towards the viewer.
        let rotation = [[cy, 0.0, sy], [sp * sy, cp, -sp * cy], [-cp * sy, sp, cp * cy]];
        let center = extent.map(|e| e / 2.0);
        let mut camera = Camera { dim, center, scale: 1.0, origin: [0.0; 2], rotation };
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for corner in camera.box_corners(extent) {
            let v = camera.view(corner);
            for a in 0..2 {
                lo[a] = lo[a].min(v[a]);
                hi[a] = hi[a].max(v[a]);
            }
        }
        let margin = 0.04 * width.min(height) as f64 + 2.0;
        let fit = |pixels: u32, span: f64| (pixels as f64 - 2.0 * margin).max(1.0) / span.max(1e-12);
        camera.scale = fit(width, hi[0] - lo[0]).min(fit(height, hi[1] - lo[1]));
        let mid = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        camera.origin = [width as f64 / 2.0 - mid[0] * camera.scale, height as f64 / 2.0 + mid[1] * camera.scale];
        camera
    }

    /// The corners of the domain box (four in 2D).
    fn box_corners(&self, extent: [f64; 3]) -> Vec<[f64; 3]> {
        let corners = if self.dim == 2 { 4 } else { 8 };
        (0..corners).map(|k| [0, 1, 2].map(|a| if k >> a & 1 == 1 { extent[a] } else { 0.0 })).collect()
    }

    /// View-space coordinates (world units about the domain centre).
    fn view(&self, p: [f64; 3]) -> [f64; 3] {
        let d = [0, 1, 2].map(|a| p[a] - self.center[a]);
        self.rotation.map(|row| row[0] * d[0] + row[1] * d[1] + row[2] * d[2])
    }

    /// Image position (pixels, y down) and depth (world units, larger is nearer).
    fn project(&self, p: [f64; 3]) -> (f64, f64, f64) {
        let v = self.view(p);
        (self.origin[0] + v[0] * self.scale, self.origin[1] - v[1] * self.scale, v[2])
    }
}

/// Draws an antialiased line.
fn line(image: &mut Image, a: (f64, f64), b: (f64, f64), colour: [f32; 3]) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as usize;
    for k in 0..=steps {
        let t = k as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t - 0.5, a.1 + (b.1 - a.1) * t - 0.5);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
        for (dx, dy, w) in
            [(0, 0, (1.0 - fx) * (1.0 - fy)), (1, 0, fx * (1.0 - fy)), (0, 1, (1.0 - fx) * fy), (1, 1, fx * fy)]
        {
            image.blend(x0 as i64 + dx, y0 as i64 + dy, colour, w);
        }
    }
}

/// Brightness factor for a volume ratio `j`: compressed material lighter, stretched darker.
fn j_shade(j: f64) -> f32 {
    if j.is_finite() { (1.0 + 0.6 * (1.0 - j)).clamp(0.7, 1.3) as f32 } else { 1.0 }
}

/// Renders the particles of `state`: the domain box outlined on a dark background, particles
/// as discs coloured by material and shaded lightly by volume ratio `J` (compressed lighter).
/// 2D frames show the domain as it is. 3D frames are an orthographic view from above one
/// corner: particles are depth-buffered sphere impostors lit by the surface their depth map
/// describes (so that a body's faces read), slightly darker with distance.
pub fn render_frame<T: Real, const D: usize>(
    model: &Model<T, D>,
    state: &State<T, D>,
    width: u32,
    height: u32,
) -> Image {
    let mut image = Image::new(width, height, BACKGROUND);
    let grid_extent = model.grid.extent();
    let extent = [0, 1, 2].map(|a| if a < D { grid_extent[a].to_f64() } else { 0.0 });
    let camera = Camera::new(D, extent, width, height);

    let corners = camera.box_corners(extent);
    for (i, &a) in corners.iter().enumerate() {
        for axis in 0..D {
            if i >> axis & 1 == 0 {
                let (ax, ay, _) = camera.project(a);
                let (bx, by, _) = camera.project(corners[i | 1 << axis]);
                line(&mut image, (ax, ay), (bx, by), OUTLINE);
            }
        }
    }
    let n = state.len();
    if n == 0 {
        return image;
    }
    // Discs as wide as the particle spacing (the side of a particle's volume).
    let volume = model.particles.volume.iter().map(|v| v.to_f64()).sum::<f64>() / n as f64;
    let radius = (0.6 * volume.max(0.0).powf(1.0 / D as f64) * camera.scale).clamp(1.0, 12.0);
    let reach = radius.ceil() as i64 + 1;
    // 3D: the nearest sphere surface at each pixel (depth, colour, sphere normal), shaded after.
    let mut fragments: Vec<Option<Fragment>> = vec![None; if D == 3 { width as usize * height as usize } else { 0 }];
    for p in 0..n {
        let pos = [0, 1, 2].map(|a| if a < D { state.x[p][a].to_f64() } else { 0.0 });
        let (px, py, pz) = camera.project(pos);
        // Off-image (or non-finite) particles are skipped; written so that NaN fails too.
        let r = reach as f64;
        if !(px + r >= 0.0 && py + r >= 0.0 && px - r < width as f64 && py - r < height as f64 && pz.is_finite()) {
            continue;
        }
        let (cx, cy) = (px.floor() as i64, py.floor() as i64);
        let material = model.particles.material.get(p).copied().unwrap_or(0) as usize;
        let colour = PALETTE[material % PALETTE.len()].map(|c| c * j_shade(det(&state.f[p]).to_f64()));
        for y in (cy - reach).max(0)..=(cy + reach).min(height as i64 - 1) {
            for x in (cx - reach).max(0)..=(cx + reach).min(width as i64 - 1) {
                let (dx, dy) = (x as f64 + 0.5 - px, y as f64 + 0.5 - py);
                let d = (dx * dx + dy * dy).sqrt();
                if D == 2 {
                    let coverage = (radius + 0.5 - d).clamp(0.0, 1.0) as f32;
                    if coverage > 0.0 {
                        image.blend(x, y, colour, coverage);
                    }
                    continue;
                }
                if d > radius {
                    continue;
                }
                // A sphere impostor: its surface height gives depth and a normal.
                let nz = (1.0 - (d / radius).powi(2)).max(0.0).sqrt();
                let depth = pz + nz * radius / camera.scale;
                let slot = &mut fragments[y as usize * width as usize + x as usize];
                if slot.is_none_or(|f| depth > f.depth) {
                    *slot = Some(Fragment { depth, colour, bump: [dx / radius, -dy / radius] });
                }
            }
        }
    }
    if D == 3 {
        shade_fragments(&mut image, &fragments, (2.0 * radius).round().max(2.0) as usize, camera.scale);
    }
    image
}

/// Colour of a spring with actuation `a` (`actuation u`): grey at rest, towards red as its
/// actuator lengthens it, towards blue as it shortens it (full colour at 15%).
pub fn spring_colour(a: f32) -> [f32; 3] {
    let t = (a / 0.15).clamp(-1.0, 1.0);
    let rest = [150.0, 156.0, 168.0];
    let towards = if t >= 0.0 { [240.0, 90.0, 80.0] } else { [80.0, 140.0, 245.0] };
    let t = if t.is_finite() { t.abs() } else { 0.0 };
    [0, 1, 2].map(|c| rest[c] + (towards[c] - rest[c]) * t)
}

/// Renders a frame of springs ([`crate::io::PlyFrame::from_springs`]) in a domain of `extent`
/// (`dim` 2 or 3) on the ground plane `y = ground` if any: the domain outlined, the ground drawn,
/// springs as lines coloured by actuation (grey at rest, red lengthened, blue shortened) and
/// vertices as discs, nearer ones over farther ones in 3D.
pub fn render_springs(
    frame: &crate::io::PlyFrame,
    dim: usize,
    extent: [f64; 3],
    ground: Option<f64>,
    width: u32,
    height: u32,
) -> Image {
    let mut image = Image::new(width, height, BACKGROUND);
    let camera = Camera::new(dim, extent, width, height);
    let corners = camera.box_corners(extent);
    for (i, &a) in corners.iter().enumerate() {
        for axis in 0..dim {
            if i >> axis & 1 == 0 {
                let (ax, ay, _) = camera.project(a);
                let (bx, by, _) = camera.project(corners[i | 1 << axis]);
                line(&mut image, (ax, ay), (bx, by), OUTLINE);
            }
        }
    }
    if let Some(h) = ground {
        let ground_colour = [120.0, 110.0, 92.0];
        let plane: Vec<[f64; 3]> = if dim == 2 {
            vec![[0.0, h, 0.0], [extent[0], h, 0.0]]
        } else {
            vec![[0.0, h, 0.0], [extent[0], h, 0.0], [extent[0], h, extent[2]], [0.0, h, extent[2]], [0.0, h, 0.0]]
        };
        for pair in plane.windows(2) {
            let (ax, ay, _) = camera.project(pair[0]);
            let (bx, by, _) = camera.project(pair[1]);
            line(&mut image, (ax, ay), (bx, by), ground_colour);
        }
    }
    let projected: Vec<(f64, f64, f64)> = frame.position.iter().map(|p| camera.project(p.map(|c| c as f64))).collect();
    let finite = |p: &(f64, f64, f64)| p.0.is_finite() && p.1.is_finite() && p.2.is_finite();
    let mut length = 0.0;
    for (e, ends) in frame.edges.iter().enumerate() {
        let (a, b) = (projected[ends[0] as usize], projected[ends[1] as usize]);
        if !(finite(&a) && finite(&b)) {
            continue;
        }
        length += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        let colour = spring_colour(frame.edge_actuation.get(e).copied().unwrap_or(0.0));
        line(&mut image, (a.0, a.1), (b.0, b.1), colour);
    }
    // Discs a fifth of the mean spring's drawn length.
    let mean = if frame.edges.is_empty() { 10.0 } else { length / frame.edges.len() as f64 };
    let radius = (0.2 * mean).clamp(1.5, 6.0);
    let mut order: Vec<usize> = (0..projected.len()).filter(|&p| finite(&projected[p])).collect();
    order.sort_by(|&a, &b| projected[a].2.total_cmp(&projected[b].2));
    let reach = radius.ceil() as i64 + 1;
    for p in order {
        let (px, py, _) = projected[p];
        let (cx, cy) = (px.floor() as i64, py.floor() as i64);
        if cx + reach < 0 || cy + reach < 0 || cx - reach >= width as i64 || cy - reach >= height as i64 {
            continue;
        }
        for y in (cy - reach).max(0)..=(cy + reach).min(height as i64 - 1) {
            for x in (cx - reach).max(0)..=(cx + reach).min(width as i64 - 1) {
                let d = ((x as f64 + 0.5 - px).powi(2) + (y as f64 + 0.5 - py).powi(2)).sqrt();
                let coverage = (radius + 0.5 - d).clamp(0.0, 1.0) as f32;
                if coverage > 0.0 {
                    image.blend(x, y, PALETTE[0], coverage);
                }
            }
        }
    }
    image
}

/// Draws a path through the domain (a center of mass over a rollout, say) over a picture made
/// by [`render_frame`] or [`render_springs`] of the same `dim`, `extent` (the domain's, zeros
/// past `dim`) and size, in the colour `colour` (0-255 RGB), with a cross at `mark` if given (a
/// target).
pub fn draw_path(
    image: &mut Image,
    dim: usize,
    extent: [f64; 3],
    points: &[[f64; 3]],
    mark: Option<[f64; 3]>,
    colour: [u8; 3],
) {
    let camera = Camera::new(dim, extent, image.width, image.height);
    let colour = colour.map(|c| c as f32);
    let to_pixel = |p: [f64; 3]| {
        let (x, y, _) = camera.project(p);
        (x, y)
    };
    for pair in points.windows(2) {
        line(image, to_pixel(pair[0]), to_pixel(pair[1]), colour);
    }
    if let Some(m) = mark {
        let (x, y) = to_pixel(m);
        let r = 0.01 * image.width.min(image.height) as f64 + 2.0;
        line(image, (x - r, y - r), (x + r, y + r), colour);
        line(image, (x - r, y + r), (x + r, y - r), colour);
    }
}

/// The visible surface of a 3D frame at one pixel.
#[derive(Clone, Copy)]
struct Fragment {
    /// View depth (larger is nearer).
    depth: f64,
    colour: [f32; 3],
    /// Screen-space x and y (up) of the particle sphere's normal.
    bump: [f64; 2],
}

/// Lights the visible surface of a 3D frame. Single particles are too small to show the shape
/// of a body, so the normal is taken from the depth map smoothed over `window` pixels (the
/// body's surface), with a little of each particle sphere's normal for texture; the light
/// comes from the upper left, and nearer surfaces are a little brighter.
fn shade_fragments(image: &mut Image, fragments: &[Option<Fragment>], window: usize, scale: f64) {
    let (w, h) = (image.width as usize, image.height as usize);
    // Summed-area tables of depth and coverage give the mean depth over any window.
    let mut sums = vec![[0.0f64; 2]; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            let here = fragments[y * w + x].map_or([0.0, 0.0], |f| [f.depth, 1.0]);
            let (up, left, diag) = (sums[y * (w + 1) + x + 1], sums[(y + 1) * (w + 1) + x], sums[y * (w + 1) + x]);
            sums[(y + 1) * (w + 1) + x + 1] = [0, 1].map(|k| here[k] + up[k] + left[k] - diag[k]);
        }
    }
    let smooth = |x: usize, y: usize| -> Option<f64> {
        fragments[y * w + x]?;
        let (x0, y0, x1, y1) =
            (x.saturating_sub(window), y.saturating_sub(window), (x + window + 1).min(w), (y + window + 1).min(h));
        let s = [0, 1].map(|k| {
            sums[y1 * (w + 1) + x1][k] - sums[y0 * (w + 1) + x1][k] - sums[y1 * (w + 1) + x0][k]
                + sums[y0 * (w + 1) + x0][k]
        });
        Some(s[0] / s[1])
    };
    let (lo, hi) = fragments.iter().flatten().fold((f64::MAX, f64::MIN), |r, f| (r.0.min(f.depth), r.1.max(f.depth)));
    let light = [-0.5, 0.7, 0.6].map(|c| c / 1.05357);
    for y in 0..h {
        for x in 0..w {
            let (Some(f), Some(z)) = (fragments[y * w + x], smooth(x, y)) else { continue };
            // Depth slope along an axis from the smoothed depths `window` pixels either side
            // (one-sided at the body's silhouette).
            let slope = |a: Option<(usize, usize)>, b: Option<(usize, usize)>| {
                let (za, da) = a.and_then(|(x, y)| smooth(x, y)).map_or((z, 0), |v| (v, window));
                let (zb, db) = b.and_then(|(x, y)| smooth(x, y)).map_or((z, 0), |v| (v, window));
                if da + db == 0 { 0.0 } else { (zb - za) * scale / (da + db) as f64 }
            };
            let gx = slope(x.checked_sub(window).map(|x| (x, y)), (x + window < w).then_some((x + window, y)));
            let gy = slope((y + window < h).then_some((x, y + window)), y.checked_sub(window).map(|y| (x, y)));
            let n = [-gx + 0.4 * f.bump[0], -gy + 0.4 * f.bump[1], 1.0];
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            let lambert = ((n[0] * light[0] + n[1] * light[1] + n[2] * light[2]) / len).max(0.0);
            let near = if hi > lo { (f.depth - lo) / (hi - lo) } else { 1.0 };
            let brightness = ((0.35 + 0.65 * lambert) * (0.75 + 0.25 * near)) as f32;
            image.blend(x as i64, y as i64, f.colour.map(|c| c * brightness), 1.0);
        }
    }
}

/// Colour of a plot's tick labels.
const INK: [f32; 3] = [200.0, 204.0, 214.0];
/// Colour of a plot's grid lines.
const GRID: [f32; 3] = [40.0, 44.0, 54.0];

/// A 3x5 bitmap font for tick labels: five rows of three pixels per glyph, top row first,
/// the leftmost pixel the highest bit.
const FONT: [(char, [u8; 5]); 14] = [
    ('0', [0b111, 0b101, 0b101, 0b101, 0b111]),
    ('1', [0b010, 0b110, 0b010, 0b010, 0b111]),
    ('2', [0b111, 0b001, 0b111, 0b100, 0b111]),
    ('3', [0b111, 0b001, 0b111, 0b001, 0b111]),
    ('4', [0b101, 0b101, 0b111, 0b001, 0b001]),
    ('5', [0b111, 0b100, 0b111, 0b001, 0b111]),
    ('6', [0b111, 0b100, 0b111, 0b101, 0b111]),
    ('7', [0b111, 0b001, 0b001, 0b001, 0b001]),
    ('8', [0b111, 0b101, 0b111, 0b101, 0b111]),
    ('9', [0b111, 0b101, 0b111, 0b001, 0b111]),
    ('.', [0b000, 0b000, 0b000, 0b000, 0b010]),
    ('-', [0b000, 0b000, 0b111, 0b000, 0b000]),
    ('e', [0b000, 0b011, 0b111, 0b100, 0b011]),
    ('+', [0b000, 0b010, 0b111, 0b010, 0b000]),
];

/// Width in pixels of `text` drawn by [`draw_text`] at `scale`: 3 font pixels per glyph and
/// 1 between glyphs.
fn text_width(text: &str, scale: u32) -> u32 {
    (4 * text.chars().count() as u32).saturating_sub(1) * scale
}

/// Draws `text` in [`FONT`] with its top left corner at (`x`, `y`), each font pixel a square
/// of `scale` pixels; characters the font lacks are left blank.
fn draw_text(image: &mut Image, (x, y): (i64, i64), text: &str, scale: u32, colour: [f32; 3]) {
    let s = scale as i64;
    for (i, c) in text.chars().enumerate() {
        let Some((_, rows)) = FONT.iter().find(|g| g.0 == c) else { continue };
        for (row, bits) in rows.iter().enumerate() {
            for col in (0..3).filter(|col| bits >> (2 - col) & 1 == 1) {
                let (left, top) = (x + (4 * i as i64 + col) * s, y + row as i64 * s);
                for (dx, dy) in (0..s).flat_map(|dx| (0..s).map(move |dy| (dx, dy))) {
                    image.blend(left + dx, top + dy, colour, 1.0);
                }
            }
        }
    }
}

/// Round tick values for an axis over [`lo`, `hi`] (`lo` < `hi`): multiples of a step of 1, 2
/// or 5 times a power of ten, at most about `target` of them, from the last multiple at or
/// below `lo` to the first at or above `hi`, so that they cover the range. Returns the ticks
/// and the exponent of the step's power of ten (which says how many decimals labels need).
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, i32) {
    let raw = (hi - lo) / (target.max(2) - 1) as f64;
    if !(raw.is_finite() && raw > 1e-300) {
        return (vec![lo, hi], (lo.abs().max(hi.abs()).log10().floor() as i32).clamp(-300, 300));
    }
    let mut exp = raw.log10().floor() as i32;
    let fraction = raw / 10f64.powi(exp);
    let mantissa = match fraction {
        f if f <= 1.0 + 1e-9 => 1,
        f if f <= 2.0 + 1e-9 => 2,
        f if f <= 5.0 + 1e-9 => 5,
        _ => {
            exp += 1;
            1
        }
    };
    // Multiples computed from integers, so that the third tick of 0.1 steps is 0.3 itself.
    let value = |k: i64| {
        let m = (k * mantissa) as f64;
        if exp < 0 { m / 10f64.powi(-exp) } else { m * 10f64.powi(exp) }
    };
    let step = value(1);
    let (first, last) = ((lo / step + 1e-9).floor() as i64, (hi / step - 1e-9).ceil() as i64);
    ((first..=last).map(value).collect(), exp)
}

/// The label of tick `v` on an axis whose step is a multiple of 10^`exp`: fixed-point with as
/// many decimals as the step needs, or like `1.5e-7` when that would take more than four
/// decimals or seven digits before the point.
fn tick_label(v: f64, exp: i32) -> String {
    let digits = if v == 0.0 { exp } else { v.abs().log10().floor() as i32 };
    if exp >= -4 && digits < 7 {
        format!("{:.*}", (-exp).max(0) as usize, v)
    } else if v == 0.0 {
        "0".to_string()
    } else {
        format!("{:.*e}", (digits - exp).max(0) as usize, v)
    }
}

/// The labels of decades 10^`k` on a log axis: plain numbers (0.001 to 1000) when they all
/// fit that range, `1e-5` style otherwise.
fn decade_labels(decades: &[f64]) -> Vec<String> {
    let plain = decades.iter().all(|&k| (-3.0..=3.0).contains(&k));
    decades
        .iter()
        .map(|&k| if plain { tick_label(10f64.powf(k), (k as i32).min(0)) } else { format!("1e{k}") })
        .collect()
}

/// One axis of a plot: its tick positions in plot coordinates (log10 of the value on a log
/// axis), their labels, and the range it shows (first tick to last).
struct Axis {
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    /// Where `v` lies along the axis, 0 at the first tick and 1 at the last.
    fn fraction(&self, v: f64) -> f64 {
        let (lo, hi) = (self.ticks[0], self.ticks[self.ticks.len() - 1]);
        if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }
    }
}

/// The layout of a [`plot_curve`] picture.
struct Axes {
    /// Left, top, right and bottom edges of the plot frame, in pixels (at pixel centres).
    frame: [f64; 4],
    /// Iterations.
    x: Axis,
    /// Values, log10 of them on a log axis.
    y: Axis,
    log: bool,
    /// Pixels per font pixel.
    scale: u32,
}

impl Axes {
    /// Length of the tick marks outside the frame and the gap between them and their labels,
    /// in font pixels.
    const TICK: u32 = 3;
    const GAP: u32 = 2;

    /// Ticks and margins for plotting `values` against their index in a `width` x `height`
    /// image. The y axis is logarithmic when the finite values are all positive and span at
    /// least a factor of ten.
    fn new(values: &[f64], width: u32, height: u32) -> Self {
        let s = (width.min(height) / 180).max(1);
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        let log = lo > 0.0 && hi >= 10.0 * lo;
        if lo > hi {
            (lo, hi) = (0.0, 1.0); // nothing to plot
        } else if hi - lo <= 1e-9 * lo.abs().max(hi.abs()) {
            let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
            (lo, hi) = (lo - d, hi + d);
        }
        let (tick, gap, glyph_height) = ((Self::TICK * s) as f64, (Self::GAP * s) as f64, (5 * s) as f64);
        let (top, bottom) = (8.0 * s as f64, height as f64 - (tick + 3.0 * gap + glyph_height));
        let y_target = (((bottom - top) / (4.0 * glyph_height)) as usize).clamp(2, 8);
        let y = if log {
            let (lo, hi) = (lo.log10(), hi.log10());
            // A whole number of decades per step (the span is at least one decade).
            let (ticks, _) = nice_ticks(lo, hi, y_target.min((hi - lo).ceil() as usize + 1));
            Axis { labels: decade_labels(&ticks), ticks }
        } else {
            let (ticks, exp) = nice_ticks(lo, hi, y_target);
            Axis { labels: ticks.iter().map(|&v| tick_label(v, exp)).collect(), ticks }
        };
        let widest = y.labels.iter().map(|l| text_width(l, s)).max().unwrap_or(0) as f64;
        let left = 2.0 * gap + widest + gap + tick;
        // Iterations: whole-number steps.
        let last = (values.len().max(2) - 1) as f64;
        let x_target = (((width as f64 - left) / (24.0 * s as f64)) as usize).clamp(2, 8).min(last as usize + 1);
        let (ticks, exp) = nice_ticks(0.0, last, x_target);
        let x = Axis { labels: ticks.iter().map(|&v| tick_label(v, exp)).collect(), ticks };
        let last_label = x.labels.last().map_or(0, |l| text_width(l, s)) as f64;
        let right = width as f64 - (8.0 * s as f64).max(last_label / 2.0 + 2.0 * gap);
        // Frame lines on pixel centres, so that they are one pixel wide.
        let frame = [left, top, right.max(left + 1.0), bottom.max(top + 1.0)].map(|e| e.floor() + 0.5);
        Axes { frame, x, y, log, scale: s }
    }

    /// Image x of iteration `i`.
    fn x_pixel(&self, i: f64) -> f64 {
        self.frame[0] + (self.frame[2] - self.frame[0]) * self.x.fraction(i)
    }

    /// Image y of value `v`.
    fn y_pixel(&self, v: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        self.frame[3] - (self.frame[3] - self.frame[1]) * self.y.fraction(v)
    }

    /// Image positions of the ticks, on pixel centres: x of the x ticks, y of the y ticks.
    fn tick_pixels(&self) -> (Vec<f64>, Vec<f64>) {
        let [left, top, right, bottom] = self.frame;
        let x = self.x.ticks.iter().map(|&t| (left + (right - left) * self.x.fraction(t)).floor() + 0.5);
        let y = self.y.ticks.iter().map(|&t| (bottom - (bottom - top) * self.y.fraction(t)).floor() + 0.5);
        (x.collect(), y.collect())
    }

    /// Every tick label with the top left corner of its text: x labels centred below their
    /// ticks, y labels right-aligned left of theirs and centred on them.
    fn labels(&self) -> Vec<(&str, (i64, i64))> {
        let s = self.scale;
        let (tick, gap) = ((Self::TICK * s) as f64, (Self::GAP * s) as f64);
        let (xs, ys) = self.tick_pixels();
        let below = self.x.labels.iter().zip(xs).map(|(l, px)| {
            (
                l.as_str(),
                ((px - text_width(l, s) as f64 / 2.0).round() as i64, (self.frame[3] + tick + gap).round() as i64),
            )
        });
        let beside = self.y.labels.iter().zip(ys).map(|(l, py)| {
            let x = self.frame[0] - tick - gap - text_width(l, s) as f64;
            (l.as_str(), (x.round() as i64, (py - 2.5 * s as f64).round() as i64))
        });
        below.chain(beside).collect()
    }

    /// Draws the grid, the frame, the tick marks and the labels.
    fn draw(&self, image: &mut Image) {
        let [left, top, right, bottom] = self.frame;
        let tick = (Self::TICK * self.scale) as f64;
        let (xs, ys) = self.tick_pixels();
        for &x in &xs {
            line(image, (x, top), (x, bottom), GRID);
        }
        for &y in &ys {
            line(image, (left, y), (right, y), GRID);
        }
        let corners = [(left, top), (right, top), (right, bottom), (left, bottom)];
        for k in 0..4 {
            line(image, corners[k], corners[(k + 1) % 4], OUTLINE);
        }
        for &x in &xs {
            line(image, (x, bottom), (x, bottom + tick), OUTLINE);
        }
        for &y in &ys {
            line(image, (left - tick, y), (left, y), OUTLINE);
        }
        for (label, at) in self.labels() {
            draw_text(image, at, label, self.scale, INK);
        }
    }
}

/// A line plot of `values` against their index (a loss curve): a frame with a faint grid at
/// round tick values on both axes, labelled with their numbers (iterations along x), and the
/// curve. The y axis is logarithmic (ticks at powers of ten) when the values are all positive
/// and span at least a factor of ten, as losses often do. Non-finite values are skipped.
pub fn plot_curve(values: &[f64], width: u32, height: u32) -> Image {
    let mut image = Image::new(width, height, BACKGROUND);
    let axes = Axes::new(values, width, height);
    axes.draw(&mut image);
    let finite: Vec<(usize, f64)> = values.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).collect();
    let to_pixel = |(i, v): (usize, f64)| (axes.x_pixel(i as f64), axes.y_pixel(v));
    let curve = PALETTE[0];
    for pair in finite.windows(2) {
        line(&mut image, to_pixel(pair[0]), to_pixel(pair[1]), curve);
    }
    if let [point] = finite[..] {
        let (x, y) = to_pixel(point);
        line(&mut image, (x - 2.0, y), (x + 2.0, y), curve);
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ply::tests::sample;
    use crate::math::Vector;
    use ::png::{BitDepth, ColorType};

    /// An image whose bytes all vary, so that a swapped or shifted byte shows.
    fn pattern(w: u32, h: u32) -> Image {
        let mut image = Image::new(w, h, [1, 2, 3]);
        for (i, px) in image.pixels.iter_mut().enumerate() {
            if i % 7 < 3 {
                *px = (i * 31 % 251) as u8;
            }
        }
        image
    }

    #[test]
    fn png_round_trips_and_the_png_crate_decodes_it_on_its_own() {
        for (w, h) in [(37, 23), (1, 1), (300, 2), (2, 300)] {
            let image = pattern(w, h);
            let png = image.to_png().unwrap();
            assert_eq!(Image::from_png(&png, "t.png").unwrap(), image);
            // The crate's decoder with no transformations: 8-bit RGB, the image's bytes.
            let mut reader = ::png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
            let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut buffer).unwrap();
            assert_eq!(
                (info.width, info.height, info.color_type, info.bit_depth),
                (w, h, ColorType::Rgb, BitDepth::Eight)
            );
            assert_eq!(buffer[..info.buffer_size()], image.pixels[..]);
        }
        // Through a file, as the CLI writes and its tests read.
        let dir = std::env::temp_dir().join(format!("rheo-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("round.png");
        pattern(64, 48).write_png(&path).unwrap();
        assert_eq!(Image::from_png(&std::fs::read(&path).unwrap(), "round.png").unwrap(), pattern(64, 48));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// PNGs the crate writes in other colour types and depths read as the RGB they show.
    #[test]
    fn other_kinds_of_png_read_as_rgb() {
        let encode = |w: u32, colour: ColorType, depth: BitDepth, data: &[u8], palette: Option<Vec<u8>>| {
            let mut bytes = Vec::new();
            let mut encoder = ::png::Encoder::new(&mut bytes, w, 1);
            encoder.set_color(colour);
            encoder.set_depth(depth);
            if let Some(palette) = palette {
                encoder.set_palette(palette);
            }
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(data).unwrap();
            writer.finish().unwrap();
            Image::from_png(&bytes, "other.png").unwrap()
        };
        let rgb = |pixels: &[u8]| Image { width: pixels.len() as u32 / 3, height: 1, pixels: pixels.to_vec() };
        assert_eq!(
            encode(2, ColorType::Grayscale, BitDepth::Eight, &[10, 200], None),
            rgb(&[10, 10, 10, 200, 200, 200])
        );
        assert_eq!(
            encode(2, ColorType::GrayscaleAlpha, BitDepth::Eight, &[7, 0, 9, 255], None),
            rgb(&[7, 7, 7, 9, 9, 9])
        );
        assert_eq!(
            encode(2, ColorType::Rgba, BitDepth::Eight, &[1, 2, 3, 4, 5, 6, 7, 8], None),
            rgb(&[1, 2, 3, 5, 6, 7])
        );
        assert_eq!(
            encode(1, ColorType::Rgb, BitDepth::Sixteen, &[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc], None),
            rgb(&[0x12, 0x56, 0x9a])
        );
        let palette = Some(vec![255, 0, 0, 0, 0, 255]);
        assert_eq!(encode(2, ColorType::Indexed, BitDepth::Eight, &[1, 0], palette), rgb(&[0, 0, 255, 255, 0, 0]));
    }

    #[test]
    fn bad_pngs_and_empty_images_fail_naming_the_file() {
        let mut png = Image::new(4, 4, [9, 9, 9]).to_png().unwrap();
        let n = png.len();
        png[n - 20] ^= 0x40; // inside the image data: its chunk's CRC no longer matches
        for bytes in [&png[..], &png[..n / 2], b"GIF89a"] {
            let message = Image::from_png(bytes, "bad.png").unwrap_err().to_string();
            assert!(message.starts_with("bad.png: not a readable PNG"), "{message}");
        }
        assert!(Image::new(0, 3, [0; 3]).to_png().is_err());
        let short = Image { width: 2, height: 2, pixels: vec![0; 11] };
        assert!(short.to_png().is_err());
        let dir = std::env::temp_dir().join(format!("rheo-png-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.png");
        let message = Image::new(3, 0, [0; 3]).write_png(&path).unwrap_err().to_string();
        assert!(message.contains("empty.png") && message.contains("PNG"), "{message}");
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn uniform_images_compress_well() {
        let png = Image::new(512, 512, BACKGROUND).to_png().unwrap();
        assert!(png.len() < 20_000, "{} bytes", png.len());
        assert_eq!(Image::from_png(&png, "bg.png").unwrap(), Image::new(512, 512, BACKGROUND));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let cases: [(f64, f64, usize, &[f64]); 7] = [
            (0.0, 1.0, 6, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
            (0.0, 1.0, 3, &[0.0, 0.5, 1.0]),
            (0.31, 0.36, 6, &[0.31, 0.32, 0.33, 0.34, 0.35, 0.36]),
            (-0.396, -0.247, 5, &[-0.4, -0.35, -0.3, -0.25, -0.2]),
            (0.0, 49.0, 8, &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]),
            (3.0, 1234.0, 6, &[0.0, 500.0, 1000.0, 1500.0]),
            (-2.5, 7.0, 5, &[-5.0, 0.0, 5.0, 10.0]),
        ];
        for (lo, hi, target, expected) in cases {
            assert_eq!(nice_ticks(lo, hi, target).0, expected, "{lo}..{hi}, {target} ticks");
        }
        // Over many ranges: equal steps of 1, 2 or 5 times a power of ten, the first tick at
        // most a step below the range and the last at most a step above it.
        for (i, target) in (0..400).zip([2, 3, 5, 8].into_iter().cycle()) {
            let scale = 10f64.powi(i % 13 - 6);
            let lo = ((i * 37 % 101) as f64 - 50.0) * scale;
            let hi = lo + (1.0 + (i * 53 % 97) as f64) * scale * 10f64.powi(i % 5 - 2);
            let (ticks, exp) = nice_ticks(lo, hi, target);
            let step = ticks[1] - ticks[0];
            let mantissa = step / 10f64.powi(exp);
            assert!([1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6), "{lo}..{hi}: step {step}");
            assert!(ticks.windows(2).all(|w| ((w[1] - w[0]) / step - 1.0).abs() < 1e-6));
            let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
            let tol = 1e-6 * step;
            assert!(
                first <= lo + tol && first > lo - step && last >= hi - tol && last < hi + step,
                "{lo}..{hi}: {ticks:?}"
            );
            assert!(ticks.len() <= target + 1, "{lo}..{hi}, {target}: {ticks:?}");
        }
    }

    #[test]
    fn tick_labels_show_the_decimals_the_step_needs() {
        let labels = [(0.2, -1), (0.0, -1), (1.0, -1), (50.0, 1), (-0.35, -2), (3.12e-4, -6), (1.5e7, 6), (0.0, -6)];
        let text: Vec<String> = labels.iter().map(|&(v, e)| tick_label(v, e)).collect();
        assert_eq!(text, ["0.2", "0.0", "1.0", "50", "-0.35", "3.12e-4", "1.5e7", "0"]);
        assert_eq!(decade_labels(&[-3.0, -2.0, -1.0, 0.0, 1.0]), ["0.001", "0.01", "0.1", "1", "10"]);
        assert_eq!(decade_labels(&[-6.0, -4.0, -2.0, 0.0]), ["1e-6", "1e-4", "1e-2", "1e0"]);
        // The font has one glyph per character, all different, and covers every label.
        for (i, a) in FONT.iter().enumerate() {
            assert!(FONT[i + 1..].iter().all(|b| b.0 != a.0 && b.1 != a.1), "{}", a.0);
        }
        assert!(text.iter().flat_map(|t| t.chars()).all(|c| FONT.iter().any(|g| g.0 == c)));
    }

    /// The text of `len` glyphs drawn at `at` read back from the pixels, font pixel by font
    /// pixel: '?' for a pattern that is no glyph, '|' for paint in the gap after a glyph.
    fn read_text(image: &Image, (x, y): (i64, i64), len: usize, scale: u32) -> String {
        let s = scale as i64;
        let ink =
            |fx: i64, fy: i64| image.pixel((x + fx * s + s / 2) as u32, (y + fy * s + s / 2) as u32) == [200, 204, 214];
        (0..len as i64)
            .map(|i| {
                if i + 1 < len as i64 && (0..5).any(|r| ink(4 * i + 3, r)) {
                    return '|';
                }
                let rows: [u8; 5] =
                    std::array::from_fn(|r| (0..3).fold(0, |b, c| b << 1 | ink(4 * i + c, r as i64) as u8));
                FONT.iter().find(|g| g.1 == rows).map_or('?', |g| g.0)
            })
            .collect()
    }

    /// Checks a plot of `values` against its layout: every tick label reads back as its text,
    /// centred on its tick, outside the frame; outside the frame, its tick marks and the
    /// labels the picture is background; the axes cover the finite values. Returns the layout.
    fn check_plot(values: &[f64], width: u32, height: u32) -> Axes {
        let image = plot_curve(values, width, height);
        assert_eq!((image.width, image.height), (width, height));
        let axes = Axes::new(values, width, height);
        let (s, [left, top, right, bottom]) = (axes.scale, axes.frame);
        let (xs, ys) = axes.tick_pixels();
        assert_eq!((xs[0], xs[xs.len() - 1], ys[0], ys[ys.len() - 1]), (left, right, bottom, top));
        let labels = axes.labels();
        assert_eq!(labels.len(), xs.len() + ys.len());
        for (k, &(text, (x, y))) in labels.iter().enumerate() {
            assert_eq!(read_text(&image, (x, y), text.len(), s), text, "label {k} at ({x}, {y})");
            let (w, h) = (text_width(text, s) as f64, 5.0 * s as f64);
            if let Some(&px) = xs.get(k) {
                assert!((x as f64 + w / 2.0 - px).abs() <= 1.0 && y as f64 > bottom, "x label {text} at ({x}, {y})");
            } else {
                let py = ys[k - xs.len()];
                assert!((y as f64 + h / 2.0 - py).abs() <= 1.0 && x as f64 + w < left, "y label {text} at ({x}, {y})");
            }
        }
        let in_label = |px: i64, py: i64| {
            labels
                .iter()
                .any(|&(t, (x, y))| px >= x && px < x + text_width(t, s) as i64 && py >= y && py < y + 5 * s as i64)
        };
        let tick = (Axes::TICK * s) as f64;
        for py in 0..height {
            for px in 0..width {
                let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
                let near_frame =
                    cx > left - tick - 1.5 && cx < right + 1.0 && cy > top - 1.0 && cy < bottom + tick + 1.5;
                if !near_frame && !in_label(px as i64, py as i64) {
                    assert_eq!(image.pixel(px, py), BACKGROUND, "paint in the margin at ({px}, {py})");
                }
            }
        }
        let y_of = |v: f64| if axes.log { v.log10() } else { v };
        for (i, &v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            assert!(
                (0.0..=1.0).contains(&axes.x.fraction(i as f64)) && (0.0..=1.0).contains(&axes.y.fraction(y_of(v)))
            );
            // The curve passes through the point.
            let (x, y) = (axes.x_pixel(i as f64), axes.y_pixel(v));
            let blue = (-1..=1)
                .any(|dy| (-1..=1).any(|dx| image.pixel((x as i64 + dx) as u32, (y as i64 + dy) as u32)[2] > 150));
            assert!(blue, "no curve at value {i} ({x}, {y})");
        }
        axes
    }

    #[test]
    fn loss_plot_labels_its_ticks_and_paints_nothing_else_in_the_margins() {
        let linear: Vec<f64> = (0..=20).map(|i| 1.0 - i as f64 / 20.0).collect();
        let axes = check_plot(&linear, 640, 360);
        assert!(!axes.log);
        assert_eq!(axes.x.labels, ["0", "5", "10", "15", "20"]);
        assert_eq!(axes.y.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        // Positive values over three decades: a log axis with a tick at each power of ten.
        let log: Vec<f64> = (0..=15).map(|i| 10f64.powf(-i as f64 / 5.0)).collect();
        let axes = check_plot(&log, 640, 360);
        assert!(axes.log);
        assert_eq!(axes.x.labels, ["0", "5", "10", "15"]);
        assert_eq!(axes.y.labels, ["0.001", "0.01", "0.1", "1"]);
        // A walker's negative loss, with a NaN skipped, in a smaller picture (font scale 1).
        let walker = [-0.247, -0.26, f64::NAN, -0.31, -0.35, -0.396];
        let axes = check_plot(&walker, 320, 200);
        assert_eq!((axes.log, axes.scale), (false, 1));
        assert_eq!(axes.y.labels, ["-0.40", "-0.35", "-0.30", "-0.25", "-0.20"]);
        // Values that do not span a range: constant, a single one, none at all.
        assert!(check_plot(&[0.5; 8], 640, 360).y.labels.len() > 1);
        check_plot(&[3.0], 640, 360);
        let empty = check_plot(&[f64::NAN, f64::INFINITY], 640, 360);
        assert_eq!(empty.y.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(plot_curve(&linear, 12, 8).pixels.len(), 12 * 8 * 3);
    }

    /// Whether some pixel within `r` of (`x`, `y`) differs from the background.
    fn painted_near(image: &Image, x: f64, y: f64, r: i64) -> bool {
        let (cx, cy) = (x as i64, y as i64);
        (cy - r..=cy + r).any(|y| {
            (cx - r..=cx + r).any(|x| {
                x >= 0
                    && y >= 0
                    && x < image.width as i64
                    && y < image.height as i64
                    && image.pixel(x as u32, y as u32) != BACKGROUND
            })
        })
    }

    #[test]
    fn renderer_paints_particles_and_nothing_far_from_them_2d() {
        let (mut model, mut state) = sample::<2>(3);
        // Three particles: two in the lower left quarter, one near the top right.
        state.x =
            vec![Vector::<f64, 2>::new(0.25, 0.25), Vector::<f64, 2>::new(0.3, 0.2), Vector::<f64, 2>::new(0.8, 0.7)];
        model.particles.volume = vec![(1.0 / 64.0f64).powi(2); 3];
        let image = render_frame(&model, &state, 200, 200);
        let camera = Camera::new(2, [1.0, 1.0, 0.0], 200, 200);
        for x in &state.x {
            let (px, py, _) = camera.project([x[0], x[1], 0.0]);
            assert!(painted_near(&image, px, py, 0), "no paint at particle ({px}, {py})");
        }
        // Lower left of the image is up-screen of nothing: around world (0.7, 0.25) is empty.
        for (wx, wy) in [(0.7, 0.25), (0.5, 0.5), (0.25, 0.75)] {
            let (px, py, _) = camera.project([wx, wy, 0.0]);
            assert!(!painted_near(&image, px, py, 10), "paint far from particles at ({wx}, {wy})");
        }
        // Particles of different materials get different colours.
        let (a, _, _) = camera.project([0.25, 0.25, 0.0]);
        let (b, _, _) = camera.project([0.3, 0.2, 0.0]);
        let pa = image.pixel(a as u32, camera.project([0.25, 0.25, 0.0]).1 as u32);
        let pb = image.pixel(b as u32, camera.project([0.3, 0.2, 0.0]).1 as u32);
        assert_ne!(pa, pb);
        // The domain outline is drawn.
        let (ox, oy, _) = camera.project([0.0, 0.5, 0.0]);
        assert!(painted_near(&image, ox, oy, 1));
    }

    #[test]
    fn renderer_skips_particles_off_the_image() {
        let (model, mut state) = sample::<3>(3);
        state.x =
            vec![Vector::<f64, 3>::repeat(f64::NAN), Vector::<f64, 3>::repeat(1e300), Vector::<f64, 3>::repeat(-1e30)];
        let empty = render_frame(&model, &State::at_rest(Vec::new()), 64, 64);
        assert_eq!(render_frame(&model, &state, 64, 64), empty);
        let (model, mut state) = sample::<2>(2);
        state.x = vec![Vector::<f64, 2>::repeat(f64::INFINITY), Vector::<f64, 2>::new(f64::NAN, 0.5)];
        assert_eq!(render_frame(&model, &state, 64, 64), render_frame(&model, &State::at_rest(Vec::new()), 64, 64));
    }

    #[test]
    fn renderer_paints_particles_and_nothing_far_from_them_3d() {
        let (mut model, mut state) = sample::<3>(2);
        state.x = vec![Vector::<f64, 3>::new(0.3, 0.3, 0.3), Vector::<f64, 3>::new(0.6, 0.7, 0.5)];
        model.particles.volume = vec![(1.0 / 64.0f64).powi(3); 2];
        let image = render_frame(&model, &state, 160, 120);
        let camera = Camera::new(3, [1.0; 3], 160, 120);
        for x in &state.x {
            let (px, py, _) = camera.project([x[0], x[1], x[2]]);
            assert!(painted_near(&image, px, py, 0), "no paint at particle ({px}, {py})");
        }
        let (px, py, _) = camera.project([0.5, 0.5, 0.5]);
        assert!(!painted_near(&image, px, py, 4), "paint at the empty centre");
        assert_eq!(image.pixels.len(), 160 * 120 * 3);
    }
}
