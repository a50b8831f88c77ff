// A grid of cells drawn as two triangles each (six vertices a cell, in order), for a pass that
// covers only some of them: a vertex stage finds its cell and corner here, and puts the
// vertices of a cell left out at OUTSIDE, where its triangles have no area and no pixel.

const OUTSIDE: vec4<f32> = vec4<f32>(-2.0, -2.0, 0.0, 1.0);

// The cell (column, row) of vertex `index` in a grid `per_row` cells wide.
fn cell_of(index: u32, per_row: u32) -> vec2<u32> {
    let cell = index / 6u;
    return vec2<u32>(cell % per_row, cell / per_row);
}

// The corner of its cell (0 or 1 each way) that vertex `index` is at.
fn corner_of(index: u32) -> vec2<u32> {
    var corners = array<vec2<u32>, 6>(
        vec2<u32>(0u, 0u), vec2<u32>(1u, 0u), vec2<u32>(0u, 1u),
        vec2<u32>(1u, 1u), vec2<u32>(0u, 1u), vec2<u32>(1u, 0u),
    );
    return corners[index % 6u];
}
