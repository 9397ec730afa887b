using System.Globalization;
using System.IO.Compression;

namespace First.Cli.Plotting;

/// <summary>A line series: a name, a colour and (x, y) points.</summary>
internal sealed record Series(string Name, (byte R, byte G, byte B) Color, IReadOnlyList<(double X, double Y)> Points);

/// <summary>One chart of a figure: title, axis labels and its series.</summary>
internal sealed record Panel(string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series);

/// <summary>
/// Line charts rendered to PNG with no native dependency (the NativeAOT binary stays one file): lines with point
/// markers, axes with ticks, a legend, text in a built-in 5×7 pixel font. PNG as the W3C PNG specification
/// (2nd edition) defines it: 8-bit RGB, one IDAT of zlib-compressed scanlines with filter type 0.
/// </summary>
internal sealed class PngChart
{
    private const int Scale = 2; // font pixels per glyph pixel
    private readonly byte[] _pixels; // [height][width][3]

    private PngChart(int width, int height)
    {
        Width = width;
        Height = height;
        _pixels = new byte[width * height * 3];
        Array.Fill(_pixels, (byte)255);
    }

    private int Width { get; }

    private int Height { get; }

    /// <summary>Draws <paramref name="panels"/> side by side and writes the PNG to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<Panel> panels)
    {
        const int panelWidth = 640;
        const int height = 480;
        var chart = new PngChart(panelWidth * panels.Count, height);
        for (var i = 0; i < panels.Count; i++)
        {
            chart.DrawPanel(panels[i], i * panelWidth, 0, panelWidth, height);
        }

        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, chart.Encode());
        File.Move(tmp, path, overwrite: true);
    }

    private void DrawPanel(Panel panel, int left, int top, int width, int height)
    {
        var plotLeft = left + 90;
        var plotRight = left + width - 20;
        var plotTop = top + 40;
        var plotBottom = top + height - 130;
        var points = panel.Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.Y)).ToList();
        var xMin = points.Count == 0 ? 0 : points.Min(p => p.X);
        var xMax = points.Count == 0 ? 1 : points.Max(p => p.X);
        var yMin = Math.Min(0, points.Count == 0 ? 0 : points.Min(p => p.Y));
        var yMax = points.Count == 0 ? 1 : points.Max(p => p.Y);
        if (xMax <= xMin)
        {
            xMax = xMin + 1;
        }

        var yStep = NiceStep((yMax - yMin) / 5);
        yMax = Math.Ceiling(yMax / yStep) * yStep;
        if (yMax <= yMin)
        {
            yMax = yMin + yStep;
        }

        int Px(double x) => plotLeft + (int)Math.Round((x - xMin) / (xMax - xMin) * (plotRight - plotLeft));
        int Py(double y) => plotBottom - (int)Math.Round((y - yMin) / (yMax - yMin) * (plotBottom - plotTop));

        Text(panel.Title, left + (width / 2) - (TextWidth(panel.Title) / 2), top + 12, (0, 0, 0));

        // Grid, ticks and labels.
        var grey = ((byte)225, (byte)225, (byte)225);
        for (var y = yMin; y <= yMax + (yStep / 2); y += yStep)
        {
            var py = Py(y);
            Line(plotLeft, py, plotRight, py, grey, 1);
            var label = Format(y);
            Text(label, plotLeft - 8 - TextWidth(label), py - 7, (0, 0, 0));
        }

        foreach (var x in points.Select(p => p.X).Distinct().Order())
        {
            var px = Px(x);
            Line(px, plotTop, px, plotBottom, grey, 1);
            var label = Format(x);
            Text(label, px - (TextWidth(label) / 2), plotBottom + 8, (0, 0, 0));
        }

        Line(plotLeft, plotBottom, plotRight, plotBottom, (0, 0, 0), 2);
        Line(plotLeft, plotTop, plotLeft, plotBottom, (0, 0, 0), 2);
        Text(panel.XLabel, ((plotLeft + plotRight) / 2) - (TextWidth(panel.XLabel) / 2), plotBottom + 30, (0, 0, 0));
        Text(panel.YLabel, left + 8, plotTop - 30, (0, 0, 0));

        // Series, then the legend below the axis label.
        foreach (var s in panel.Series)
        {
            var visible = s.Points.Where(p => double.IsFinite(p.Y)).OrderBy(p => p.X).ToList();
            for (var i = 0; i + 1 < visible.Count; i++)
            {
                Line(Px(visible[i].X), Py(visible[i].Y), Px(visible[i + 1].X), Py(visible[i + 1].Y), s.Color, 3);
            }

            foreach (var p in visible)
            {
                Fill(Px(p.X) - 4, Py(p.Y) - 4, 9, 9, s.Color);
            }
        }

        var lx = plotLeft;
        var ly = plotBottom + 60;
        foreach (var s in panel.Series)
        {
            var w = 30 + TextWidth(s.Name) + 24;
            if (lx + w > left + width)
            {
                lx = plotLeft;
                ly += 24;
            }

            Line(lx, ly + 7, lx + 22, ly + 7, s.Color, 3);
            Fill(lx + 7, ly + 3, 9, 9, s.Color);
            Text(s.Name, lx + 30, ly, (0, 0, 0));
            lx += w;
        }
    }

    private static double NiceStep(double raw)
    {
        if (!(raw > 0) || !double.IsFinite(raw))
        {
            return 1;
        }

        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var f = raw / magnitude;
        return magnitude * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
    }

    private static string Format(double v) => Math.Abs(v) >= 100 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    private void Set(int x, int y, (byte R, byte G, byte B) c)
    {
        if ((uint)x < (uint)Width && (uint)y < (uint)Height)
        {
            var i = ((y * Width) + x) * 3;
            _pixels[i] = c.R;
            _pixels[i + 1] = c.G;
            _pixels[i + 2] = c.B;
        }
    }

    private void Fill(int x, int y, int w, int h, (byte, byte, byte) c)
    {
        for (var j = 0; j < h; j++)
        {
            for (var i = 0; i < w; i++)
            {
                Set(x + i, y + j, c);
            }
        }
    }

    /// <summary>A line of the given thickness: squares stamped along the longer axis.</summary>
    private void Line(int x0, int y0, int x1, int y1, (byte, byte, byte) c, int thickness)
    {
        var steps = Math.Max(Math.Abs(x1 - x0), Math.Abs(y1 - y0));
        for (var i = 0; i <= steps; i++)
        {
            var x = x0 + (int)Math.Round((double)(x1 - x0) * i / Math.Max(steps, 1));
            var y = y0 + (int)Math.Round((double)(y1 - y0) * i / Math.Max(steps, 1));
            Fill(x - (thickness / 2), y - (thickness / 2), thickness, thickness, c);
        }
    }

    private static int TextWidth(string s) => s.Length * 6 * Scale;

    private void Text(string s, int x, int y, (byte, byte, byte) c)
    {
        foreach (var ch in s)
        {
            var rows = Font.Glyph(ch);
            for (var row = 0; row < 7; row++)
            {
                for (var col = 0; col < 5; col++)
                {
                    if ((rows[row] & (1 << (4 - col))) != 0)
                    {
                        Fill(x + (col * Scale), y + (row * Scale), Scale, Scale, c);
                    }
                }
            }

            x += 6 * Scale;
        }
    }

    private byte[] Encode()
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        WriteBigEndian(header, 0, (uint)Width);
        WriteBigEndian(header, 4, (uint)Height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type: RGB
        Chunk(png, "IHDR", header);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            {
                for (var y = 0; y < Height; y++)
                {
                    z.WriteByte(0); // filter: none
                    z.Write(_pixels, y * Width * 3, Width * 3);
                }
            }

            Chunk(png, "IDAT", raw.ToArray());
        }

        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var head = new byte[8];
        WriteBigEndian(head, 0, (uint)data.Length);
        for (var i = 0; i < 4; i++)
        {
            head[4 + i] = (byte)type[i];
        }

        s.Write(head);
        s.Write(data);
        var crc = Crc32(head.AsSpan(4), 0xFFFFFFFFu);
        crc = Crc32(data, crc) ^ 0xFFFFFFFFu;
        var tail = new byte[4];
        WriteBigEndian(tail, 0, crc);
        s.Write(tail);
    }

    /// <summary>CRC-32 (polynomial 0xEDB88320, reflected), as PNG chunks use.</summary>
    private static uint Crc32(ReadOnlySpan<byte> data, uint crc)
    {
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return crc;
    }

    private static void WriteBigEndian(byte[] b, int offset, uint v)
    {
        b[offset] = (byte)(v >> 24);
        b[offset + 1] = (byte)(v >> 16);
        b[offset + 2] = (byte)(v >> 8);
        b[offset + 3] = (byte)v;
    }
}
