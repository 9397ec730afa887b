using System.Runtime.InteropServices;

namespace First.Tests;

/// <summary>
/// One ggml operation computed by llama.cpp's own CPU backend (the libraries of the built tools, bin/, the build
/// ReferenceLlama uses): a graph of one GGML_OP_FLASH_ATTN_EXT node over tensors we fill, run with a given
/// number of threads. Only ggml_init_params (three fields, unchanged since 2023) is mirrored; tensors are
/// reached through ggml_get_data.
/// </summary>
internal static unsafe class ReferenceGgml
{
    private const int TypeF32 = 0;
    private const int TypeF16 = 1;

    private static readonly Lazy<Api?> s_api = new(Load);
    private static readonly Lock s_gate = new();

    /// <summary>
    /// ggml_flash_attn_ext(q, k, v, mask, scale, 0, 0) as llama.cpp's graph builds it: q [tokens][heads][dk] floats,
    /// k [kvHeads][cells][dk] and v [kvHeads][cells][dv] halves, mask [tokens][cells] halves (0 or −∞).
    /// Returns [tokens][heads][dv].
    /// </summary>
    public static float[] FlashAttention(float[] q, ushort[] k, ushort[] v, ushort[] mask, int tokens, int heads, int kvHeads, int cells, int dk, int dv, float scale, int threads, float softcap = 0)
    {
        var api = Require();
        lock (s_gate)
        {
            var init = new InitParams { MemSize = (nuint)(((long)q.Length * 4) + ((long)(k.Length + v.Length + mask.Length) * 2) + ((long)tokens * heads * dv * 4) + (64L << 20)) };
            var ctx = api.Init(init);
            Assert.True(ctx != 0, "ggml_init failed");
            try
            {
                var tq = api.NewTensor3d(ctx, TypeF32, dk, tokens, heads);
                var tk = api.NewTensor3d(ctx, TypeF16, dk, cells, kvHeads);
                var tv = api.NewTensor3d(ctx, TypeF16, dv, cells, kvHeads);
                var tm = api.NewTensor2d(ctx, TypeF16, cells, tokens);
                // ggml's q is [heads][tokens][dk] (llama.cpp permutes its [tokens][heads][dk] query into that view).
                var pq = (float*)api.GetData(tq);
                for (var t = 0; t < tokens; t++)
                {
                    for (var h = 0; h < heads; h++)
                    {
                        q.AsSpan(((t * heads) + h) * dk, dk).CopyTo(new Span<float>(pq + ((((long)h * tokens) + t) * dk), dk));
                    }
                }

                k.CopyTo(new Span<ushort>(api.GetData(tk), k.Length));
                v.CopyTo(new Span<ushort>(api.GetData(tv), v.Length));
                mask.CopyTo(new Span<ushort>(api.GetData(tm), mask.Length));
                var result = api.FlashAttnExt(ctx, tq, tk, tv, tm, scale, 0, softcap);
                var graph = api.NewGraph(ctx);
                api.BuildForwardExpand(graph, result);
                Assert.Equal(0, api.GraphCompute(ctx, graph, threads));
                return new ReadOnlySpan<float>(api.GetData(result), tokens * heads * dv).ToArray(); // [tokens][heads][dv]
            }
            finally
            {
                api.Free(ctx);
            }
        }
    }

    /// <summary>ggml_gelu of each value (GGML_OP_UNARY, GELU) through llama.cpp's CPU backend: its half-precision table where it applies.</summary>
    public static float[] Gelu(float[] x)
    {
        var api = Require();
        lock (s_gate)
        {
            var ctx = api.Init(new InitParams { MemSize = (nuint)(((long)x.Length * 8) + (16L << 20)) });
            Assert.True(ctx != 0, "ggml_init failed");
            try
            {
                var tx = api.NewTensor1d(ctx, TypeF32, x.Length);
                x.CopyTo(new Span<float>(api.GetData(tx), x.Length));
                var result = api.Gelu(ctx, tx);
                var graph = api.NewGraph(ctx);
                api.BuildForwardExpand(graph, result);
                Assert.Equal(0, api.GraphCompute(ctx, graph, 1));
                return new ReadOnlySpan<float>(api.GetData(result), x.Length).ToArray();
            }
            finally
            {
                api.Free(ctx);
            }
        }
    }

    private static Api Require()
    {
        if (!ReferenceLibrary.CanRun)
        {
            Assert.Skip("llama.cpp's reference library is built for linux-x64");
        }

        TestPaths.SkipOrFailWithoutReference(s_api.Value is not null, $"llama.cpp's built libggml-cpu.so ({ReferenceBuild.InstallHint})");
        return s_api.Value!;
    }

    private static Api? Load()
    {
        var dir = ReferenceBuild.LibraryDir;
        if (!ReferenceLibrary.CanRun || !File.Exists(Path.Combine(dir, "libggml-cpu.so")))
        {
            return null;
        }

        var api = new Api(NativeLibrary.Load(Path.Combine(dir, "libggml-base.so")), NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so")));
        api.CpuInit();
        return api;
    }

    /// <summary>ggml_init_params (ggml.h): mem_size, mem_buffer, no_alloc; passed by value.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct InitParams
    {
        public nuint MemSize;
        public nint MemBuffer;
        public byte NoAlloc;
    }

    private sealed class Api(nint baseLib, nint cpuLib)
    {
        public readonly delegate* unmanaged<InitParams, nint> Init = (delegate* unmanaged<InitParams, nint>)NativeLibrary.GetExport(baseLib, "ggml_init");
        public readonly delegate* unmanaged<nint, void> Free = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(baseLib, "ggml_free");
        public readonly delegate* unmanaged<nint, int, long, long, long, nint> NewTensor3d = (delegate* unmanaged<nint, int, long, long, long, nint>)NativeLibrary.GetExport(baseLib, "ggml_new_tensor_3d");
        public readonly delegate* unmanaged<nint, int, long, nint> NewTensor1d = (delegate* unmanaged<nint, int, long, nint>)NativeLibrary.GetExport(baseLib, "ggml_new_tensor_1d");
        public readonly delegate* unmanaged<nint, nint, nint> Gelu = (delegate* unmanaged<nint, nint, nint>)NativeLibrary.GetExport(baseLib, "ggml_gelu");
        public readonly delegate* unmanaged<nint, int, long, long, nint> NewTensor2d = (delegate* unmanaged<nint, int, long, long, nint>)NativeLibrary.GetExport(baseLib, "ggml_new_tensor_2d");
        public readonly delegate* unmanaged<nint, void*> GetData = (delegate* unmanaged<nint, void*>)NativeLibrary.GetExport(baseLib, "ggml_get_data");
        public readonly delegate* unmanaged<nint, nint, nint, nint, nint, float, float, float, nint> FlashAttnExt =
            (delegate* unmanaged<nint, nint, nint, nint, nint, float, float, float, nint>)NativeLibrary.GetExport(baseLib, "ggml_flash_attn_ext");
        public readonly delegate* unmanaged<nint, nint> NewGraph = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(baseLib, "ggml_new_graph");
        public readonly delegate* unmanaged<nint, nint, void> BuildForwardExpand = (delegate* unmanaged<nint, nint, void>)NativeLibrary.GetExport(baseLib, "ggml_build_forward_expand");
        public readonly delegate* unmanaged<nint, nint, int, int> GraphCompute = (delegate* unmanaged<nint, nint, int, int>)NativeLibrary.GetExport(cpuLib, "ggml_graph_compute_with_ctx");
        public readonly delegate* unmanaged<void> CpuInit = (delegate* unmanaged<void>)NativeLibrary.GetExport(cpuLib, "ggml_cpu_init");
    }
}
