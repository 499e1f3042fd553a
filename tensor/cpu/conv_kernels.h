// The CPU conv building blocks behind CpuBackend::conv_forward / conv_backward (cpu_conv.cpp);
// internal to tensor/cpu/. Letters as in tensor/backend.h: N batch, C channels, S... spatial input
// dims, K = prod(kernel), L = prod(out dims). Float32/float64, contiguous tensors.
#pragma once

#include "twig/tensor/backend.h"

namespace twig::cpu {

// cols (C*K, N*L) from in (N, C, S...): cols[(c, k...), (n, o...)] = in[n, c, o*stride - pad + k*dil]
// (0 in the padding). Row-major over (c, k...) and (n, o...). A 3-D cols (N, C*K, L) holds the
// same values one sample after another: cols[n, (c, k...), (o...)].
void im2col(const Tensor& cols, const Tensor& in, const ConvGeometry& g);
// The adjoint: in (N, C, S...) = sum of the cols entries that im2col read from each element
// (in is overwritten).
void col2im(const Tensor& in, const Tensor& cols, const ConvGeometry& g);
// A 2-D conv without cols: out (N, O, OH, OW) = w (O, C, kH, kW) applied to every window of
// in (N, C, H, W), plus bias (O) where it is defined. Returns false, having touched nothing,
// where there is no such kernel for this dtype, geometry or machine; the caller then takes
// im2col + gemm.
bool conv2d_direct(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, const ConvGeometry& g);
// Its weight gradient without cols: grad_w (O, C*kH*kW) = the sum over the samples of in
// (ns, C, H, W) of grad_out[n] (O, OH*OW) @ the window rows of in[n], read in place (a dot product
// per output row). Serial (a conv_backward chunk calls it). Returns false, having touched nothing,
// where conv2d_direct would decline the same geometry.
bool conv2d_direct_weight_grad(const Tensor& grad_w, const Tensor& grad_out, const Tensor& in, const ConvGeometry& g);

}  // namespace twig::cpu
