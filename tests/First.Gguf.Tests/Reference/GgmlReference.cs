using First.Tests;
using System.Runtime.InteropServices;

namespace First.Gguf.Tests.Reference;

/// <summary>
/// llama.cpp's own libggml-base.so (from shared/tools/llama-cpp-reference.sh), called through function
/// pointers: its type table and its GGUF parser are the reference our reader and writer are held to.
/// Signatures: ggml/include/ggml.h and gguf.h of the pinned version.
/// </summary>
internal static unsafe class GgmlReference
{
    private static Api? s_api;

    /// <summary>The loaded API, or a skipped (or, with FIRST_REQUIRE_REFERENCE=1, failed) test.</summary>
    public static Api Require() => s_api ??= new Api(ReferenceLibrary.Require());

    /// <summary>struct gguf_init_params { bool no_alloc; struct ggml_context ** ctx; } (by value).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct GgufInitParams
    {
        public byte NoAlloc;
        public nint Ctx;
    }

    public sealed class Api(nint lib)
    {
        public readonly delegate* unmanaged<int, byte*> TypeName = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(lib, "ggml_type_name");
        public readonly delegate* unmanaged<int, long> BlockSize = (delegate* unmanaged<int, long>)NativeLibrary.GetExport(lib, "ggml_blck_size");
        public readonly delegate* unmanaged<int, nuint> TypeSize = (delegate* unmanaged<int, nuint>)NativeLibrary.GetExport(lib, "ggml_type_size");

        private readonly delegate* unmanaged<byte*, GgufInitParams, nint> _initFromFile = (delegate* unmanaged<byte*, GgufInitParams, nint>)NativeLibrary.GetExport(lib, "gguf_init_from_file");
        private readonly delegate* unmanaged<nint, void> _free = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "gguf_free");
        private readonly delegate* unmanaged<nint, uint> _version = (delegate* unmanaged<nint, uint>)NativeLibrary.GetExport(lib, "gguf_get_version");
        private readonly delegate* unmanaged<nint, nuint> _alignment = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(lib, "gguf_get_alignment");
        private readonly delegate* unmanaged<nint, nuint> _dataOffset = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(lib, "gguf_get_data_offset");
        private readonly delegate* unmanaged<nint, long> _nKv = (delegate* unmanaged<nint, long>)NativeLibrary.GetExport(lib, "gguf_get_n_kv");
        private readonly delegate* unmanaged<nint, long, byte*> _key = (delegate* unmanaged<nint, long, byte*>)NativeLibrary.GetExport(lib, "gguf_get_key");
        private readonly delegate* unmanaged<nint, long, int> _kvType = (delegate* unmanaged<nint, long, int>)NativeLibrary.GetExport(lib, "gguf_get_kv_type");
        private readonly delegate* unmanaged<nint, long, int> _arrType = (delegate* unmanaged<nint, long, int>)NativeLibrary.GetExport(lib, "gguf_get_arr_type");
        private readonly delegate* unmanaged<nint, long, nuint> _arrN = (delegate* unmanaged<nint, long, nuint>)NativeLibrary.GetExport(lib, "gguf_get_arr_n");
        private readonly delegate* unmanaged<nint, long, void*> _arrData = (delegate* unmanaged<nint, long, void*>)NativeLibrary.GetExport(lib, "gguf_get_arr_data");
        private readonly delegate* unmanaged<nint, long, nuint, byte*> _arrStr = (delegate* unmanaged<nint, long, nuint, byte*>)NativeLibrary.GetExport(lib, "gguf_get_arr_str");
        private readonly delegate* unmanaged<nint, long, byte*> _valStr = (delegate* unmanaged<nint, long, byte*>)NativeLibrary.GetExport(lib, "gguf_get_val_str");
        private readonly delegate* unmanaged<nint, long, void*> _valData = (delegate* unmanaged<nint, long, void*>)NativeLibrary.GetExport(lib, "gguf_get_val_data");
        private readonly delegate* unmanaged<nint, long> _nTensors = (delegate* unmanaged<nint, long>)NativeLibrary.GetExport(lib, "gguf_get_n_tensors");
        private readonly delegate* unmanaged<nint, long, byte*> _tensorName = (delegate* unmanaged<nint, long, byte*>)NativeLibrary.GetExport(lib, "gguf_get_tensor_name");
        private readonly delegate* unmanaged<nint, long, int> _tensorType = (delegate* unmanaged<nint, long, int>)NativeLibrary.GetExport(lib, "gguf_get_tensor_type");
        private readonly delegate* unmanaged<nint, long, nuint> _tensorOffset = (delegate* unmanaged<nint, long, nuint>)NativeLibrary.GetExport(lib, "gguf_get_tensor_offset");
        private readonly delegate* unmanaged<nint, long, nuint> _tensorSize = (delegate* unmanaged<nint, long, nuint>)NativeLibrary.GetExport(lib, "gguf_get_tensor_size");

        /// <summary>Parses a file with ggml's GGUF reader (metadata and tensor table only); null when ggml refuses it.</summary>
        public ReferenceGguf? Parse(string path)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
            nint ctx;
            fixed (byte* p = bytes)
            {
                ctx = _initFromFile(p, new GgufInitParams { NoAlloc = 1, Ctx = 0 });
            }

            if (ctx == 0)
            {
                return null;
            }

            try
            {
                return Read(ctx);
            }
            finally
            {
                _free(ctx);
            }
        }

        private ReferenceGguf Read(nint ctx)
        {
            var kvs = new List<ReferenceKv>();
            for (long i = 0; i < _nKv(ctx); i++)
            {
                var type = (GgufValueType)_kvType(ctx, i);
                var key = Marshal.PtrToStringUTF8((nint)_key(ctx, i))!;
                object value;
                switch (type)
                {
                    case GgufValueType.String:
                        value = Marshal.PtrToStringUTF8((nint)_valStr(ctx, i))!;
                        break;
                    case GgufValueType.Array:
                        var elementType = (GgufValueType)_arrType(ctx, i);
                        var n = (long)_arrN(ctx, i);
                        if (elementType == GgufValueType.String)
                        {
                            var items = new string[n];
                            for (long j = 0; j < n; j++)
                            {
                                items[j] = Marshal.PtrToStringUTF8((nint)_arrStr(ctx, i, (nuint)j))!;
                            }

                            value = new ReferenceArray(elementType, n, items);
                        }
                        else if (elementType == GgufValueType.Array)
                        {
                            value = new ReferenceArray(elementType, n, null);
                        }
                        else
                        {
                            var size = GgufValueTypes.SizeOf(elementType);
                            value = new ReferenceArray(elementType, n, new ReadOnlySpan<byte>(_arrData(ctx, i), checked((int)(n * size))).ToArray());
                        }

                        break;
                    default:
                        value = new ReadOnlySpan<byte>(_valData(ctx, i), GgufValueTypes.SizeOf(type)).ToArray();
                        break;
                }

                kvs.Add(new ReferenceKv(key, type, value));
            }

            var tensors = new List<ReferenceTensor>();
            for (long i = 0; i < _nTensors(ctx); i++)
            {
                tensors.Add(new ReferenceTensor(
                    Marshal.PtrToStringUTF8((nint)_tensorName(ctx, i))!,
                    _tensorType(ctx, i),
                    (long)_tensorOffset(ctx, i),
                    (long)_tensorSize(ctx, i)));
            }

            return new ReferenceGguf(_version(ctx), (long)_alignment(ctx), (long)_dataOffset(ctx), kvs, tensors);
        }
    }
}

internal sealed record ReferenceGguf(uint Version, long Alignment, long DataOffset, IReadOnlyList<ReferenceKv> Kvs, IReadOnlyList<ReferenceTensor> Tensors);

/// <summary>A key as ggml reads it: scalars as their raw bytes, strings as strings, arrays as <see cref="ReferenceArray"/>.</summary>
internal sealed record ReferenceKv(string Key, GgufValueType Type, object Value);

/// <summary>An array as ggml reads it: raw element bytes for numbers, strings for strings.</summary>
internal sealed record ReferenceArray(GgufValueType ElementType, long Count, object? Items);

internal sealed record ReferenceTensor(string Name, int Type, long Offset, long Size);
